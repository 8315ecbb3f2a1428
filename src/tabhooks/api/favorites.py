"""Favorites: ``GET`` and ``PUT .../favorites/{user-id}``, and
``DELETE .../favorites/{user-id}/{workbooks|views|datasources|projects|flows}/{item-id}``."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from tabhooks.api.content_xml import content_element, project_element, view_element
from tabhooks.api.deps import SiteCallerDep, StoreDep, require_version
from tabhooks.api.wire import (
    Shape,
    base_url,
    fields_of,
    no_content,
    read_body,
    respond,
    select_fields,
)
from tabhooks.errors import BadRequest, ResourceNotFound
from tabhooks.models import Content, Project, View
from tabhooks.services import favorites
from tabhooks.services.favorites import FavoriteKind, Marked
from tabhooks.services.principal import Principal
from tabhooks.tsxml import Element, element, listing

router = APIRouter(
    prefix="/api/{api_version}/sites/{site_id}/favorites",
    dependencies=[Depends(require_version())],
)

#: ``fields=`` on Get Favorites: the label, or a whole item (``workbook``) or its attributes.
_ITEM = frozenset({"id", "name", "contentUrl", "description", "createdAt", "updatedAt"})
SHAPE = Shape(frozenset({"label"}), {kind.value: _ITEM for kind in FavoriteKind})

#: The collection names of the delete URI; TSC 0.42's generic ``delete_favorite`` sends the
#: singular (``Resource.Workbook`` is ``workbook``), so both are accepted.
_COLLECTIONS = {f"{k.value}s": k for k in FavoriteKind} | {k.value: k for k in FavoriteKind}


def _item_element(request: Request, caller: Principal, marked: Marked) -> Element:
    item = marked.item
    if isinstance(item, View):
        return view_element(item)
    if isinstance(item, Project):
        return project_element(item)
    content: Content = item
    return content_element(content, base_url(request), caller.site.content_url)


def _favorites(
    request: Request, caller: Principal, found: list[Marked], asked: frozenset[str] | None = None
) -> Element:
    items = [
        select_fields(element("favorite", _item_element(request, caller, m), label=m.label), asked)
        for m in found
    ]
    return listing("favorites", items)


@router.get("/{user_id}", operation_id="getFavoritesForUser")
async def get_favorites(
    request: Request, user_id: str, store: StoreDep, caller: SiteCallerDep
) -> Response:
    asked = fields_of(request, SHAPE)
    found = await favorites.get(store, caller, user_id)
    return respond(request, _favorites(request, caller, found, asked))


@router.put("/{user_id}", operation_id="addFavorite")
async def add_favorite(
    request: Request, user_id: str, store: StoreDep, caller: SiteCallerDep
) -> Response:
    node = (await read_body(request)).child("favorite")
    if node is None:
        raise BadRequest("The request must contain a <favorite> element.")
    named = [(kind, node.child(kind.value)) for kind in FavoriteKind]
    targets = [(kind, child) for kind, child in named if child is not None]
    if len(targets) != 1 or not targets[0][1].attr("id"):
        raise BadRequest(
            "A <favorite> names exactly one workbook, view, datasource, project or flow by id "
            "(tabhooks keeps no metrics or collections)."
        )
    kind, target = targets[0]
    found = await favorites.add(
        store, caller, user_id, kind, target.attr("id") or "", node.attr("label")
    )
    return respond(request, _favorites(request, caller, found))


@router.delete("/{user_id}/{collection}/{item_id}", status_code=204, operation_id="deleteFavorite")
async def delete_favorite(
    user_id: str, collection: str, item_id: str, store: StoreDep, caller: SiteCallerDep
) -> Response:
    kind = _COLLECTIONS.get(collection)
    if kind is None:
        raise ResourceNotFound(
            f"Favorites of '{collection[:40]}' are not served: workbooks, views, datasources, "
            "projects and flows are."
        )
    await favorites.delete(store, caller, user_id, kind, item_id)
    return no_content()
