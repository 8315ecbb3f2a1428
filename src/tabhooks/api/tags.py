"""Tags: ``PUT .../{workbooks|datasources|flows|views}/{id}/tags``, ``DELETE .../tags/{tag}``,
and the batch methods ``PUT .../tags:batchCreate`` and ``PUT .../tags:batchDelete``.

A label is split as Tableau splits it: on spaces and commas, unless it is wrapped in double
quotes (TSC 0.42 quotes every label that holds either, so ``"Q3 sales"`` stays one tag).
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from tabhooks.api.content_xml import tags_element
from tabhooks.api.deps import CallerDep, SiteCallerDep, StoreDep, require_version
from tabhooks.api.wire import no_content, read_body, respond
from tabhooks.errors import BadRequest
from tabhooks.services import tags
from tabhooks.services.principal import Principal
from tabhooks.services.tags import Item, Taggable
from tabhooks.tsxml import Element, element, listing

router = APIRouter(
    prefix="/api/{api_version}/sites/{site_id}", dependencies=[Depends(require_version())]
)
#: TSC 0.42's batch tag methods leave the site out of the URI (``/api/{v}/tags:batchCreate``);
#: there they act on the session's site.
session_router = APIRouter(
    prefix="/api/{api_version}", dependencies=[Depends(require_version("3.9"))]
)

_SEPARATORS = re.compile(r"[\s,]+")
#: Batch ``contentType`` values (TSC sends its item class names: ``Workbook``, ``Datasource``).
_BATCH_TYPES = {t.value: t for t in Taggable}


def split_label(raw: str) -> list[str]:
    """The tags one ``label`` attribute names."""
    text = raw.strip()
    if len(text) >= 2 and text.startswith('"') and text.endswith('"'):
        return [text[1:-1]]
    return [part for part in _SEPARATORS.split(text) if part]


def labels_of(node: Element | None) -> list[str]:
    """Every label of a ``<tags><tag label="..."/></tags>`` element."""
    if node is None:
        raise BadRequest("The request must contain <tags> with at least one <tag label=...>.")
    found: list[str] = []
    for tag in node.all("tag"):
        raw = tag.attr("label")
        if raw is None:
            raise BadRequest("Every <tag> needs a label attribute.")
        found.extend(split_label(raw))
    if not found:
        raise BadRequest("The request must contain <tags> with at least one <tag label=...>.")
    return found


def _add_route(kind: Taggable) -> None:
    collection = f"{kind.value}s"
    title = "DataSource" if kind is Taggable.DATASOURCE else kind.value.title()

    @router.put(f"/{collection}/{{item_id}}/tags", operation_id=f"addTagsTo{title}")
    async def add_tags(
        request: Request, item_id: str, store: StoreDep, caller: SiteCallerDep
    ) -> Response:
        labels = labels_of((await read_body(request)).child("tags"))
        found = await tags.add(store, caller, Item(kind, item_id), labels)
        return respond(request, tags_element(found))

    @router.delete(
        f"/{collection}/{{item_id}}/tags/{{tag:path}}",
        status_code=204,
        operation_id=f"deleteTagFrom{title}",
    )
    async def delete_tag(
        item_id: str, tag: str, store: StoreDep, caller: SiteCallerDep
    ) -> Response:
        await tags.delete(store, caller, Item(kind, item_id), tag)
        return no_content()


for _kind in Taggable:
    _add_route(_kind)


def _batch_items(node: Element) -> list[Item]:
    contents = node.child("contents")
    items: list[Item] = []
    for content in contents.all("content") if contents is not None else ():
        kind = _BATCH_TYPES.get((content.attr("contentType") or "").lower())
        item_id = content.attr("id")
        if kind is None or not item_id:
            raise BadRequest(
                "Every <content> needs an id and a contentType of workbook, datasource, flow "
                "or view (tabhooks keeps no columns, databases or tables)."
            )
        items.append(Item(kind, item_id))
    return items


async def _batch(request: Request, store: StoreDep, caller: Principal, *, add: bool) -> Response:
    node = (await read_body(request)).child("tagBatch")
    if node is None:
        raise BadRequest("The request must contain a <tagBatch> element.")
    items = _batch_items(node)
    labels = await tags.batch(store, caller, items, labels_of(node.child("tags")), add=add)
    contents = listing(
        "contents", [element("content", id=i.id, contentType=i.kind.value) for i in items]
    )
    return respond(request, element("tagBatch", tags_element(labels), contents))


@router.put(
    "/tags:batchCreate", operation_id="batchAddTags", dependencies=[Depends(require_version("3.9"))]
)
async def batch_add(request: Request, store: StoreDep, caller: SiteCallerDep) -> Response:
    return await _batch(request, store, caller, add=True)


@router.put(
    "/tags:batchDelete",
    operation_id="batchDeleteTags",
    dependencies=[Depends(require_version("3.9"))],
)
async def batch_delete(request: Request, store: StoreDep, caller: SiteCallerDep) -> Response:
    return await _batch(request, store, caller, add=False)


@session_router.put("/tags:batchCreate", operation_id="batchAddTagsOnSessionSite")
async def session_batch_add(request: Request, store: StoreDep, caller: CallerDep) -> Response:
    return await _batch(request, store, caller, add=True)


@session_router.put("/tags:batchDelete", operation_id="batchDeleteTagsOnSessionSite")
async def session_batch_delete(request: Request, store: StoreDep, caller: CallerDep) -> Response:
    return await _batch(request, store, caller, add=False)
