"""``/api/{v}/sites/{site_id}/dataQualityWarnings``: Tableau's data quality warning methods.

Two URL shapes share the prefix and differ in segment count, so they never shadow each other:
``/{contentType}/{contentLuid}`` (add, list, and TSC 0.42's update and clear by content) and
``/{dqwId}`` (Tableau's documented get, update and delete of one warning). Responses follow
Tableau's: ``<dataQualityWarning>`` for one warning, ``<dataQualityWarningList>`` for several,
which TSC's ``DQWItem.from_response`` reads either way (``.//t:dataQualityWarning``).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from tabhooks.api.deps import SiteCallerDep, StoreDep, require_version
from tabhooks.api.wire import no_content, read_body, respond
from tabhooks.errors import BadRequest
from tabhooks.services import labels
from tabhooks.store.labels import Label
from tabhooks.tsxml import Element, element, listing, timestamp

router = APIRouter(
    prefix="/api/{api_version}/sites/{site_id}/dataQualityWarnings",
    dependencies=[Depends(require_version())],
)


def warning_element(label: Label) -> Element:
    """One ``<dataQualityWarning>``, attribute for attribute as TSC's fixture shows it."""
    return element(
        "dataQualityWarning",
        element("site", id=label.site_id),
        element("owner", id=label.owner_id) if label.owner_id else None,
        id=label.id,
        userDisplayName=label.owner_display_name,
        contentId=label.content_id,
        contentType=label.content_kind.value.upper(),
        message=label.message,
        type=label.type,
        isActive=label.is_active,
        createdAt=timestamp(label.created_at),
        updatedAt=timestamp(label.updated_at),
        isSevere=label.is_severe,
    )


def warning_list(found: list[Label]) -> Element:
    return listing("dataQualityWarningList", [warning_element(label) for label in found])


async def _fields(request: Request) -> labels.WarningFields:
    node = (await read_body(request)).child("dataQualityWarning")
    if node is None:
        raise BadRequest("The request must contain a <dataQualityWarning> element.")
    return labels.WarningFields(
        type=node.attr("type"),
        message=node.attr("message"),
        is_active=node.attr_bool("isActive"),
        is_severe=node.attr_bool("isSevere"),
    )


@router.post("/{content_type}/{content_id}", operation_id="addDataQualityWarning")
async def add_warning(
    request: Request, content_type: str, content_id: str, store: StoreDep, caller: SiteCallerDep
) -> Response:
    kind = labels.content_kind(content_type)
    added = await labels.add(store, caller, kind, content_id, await _fields(request))
    return respond(request, warning_element(added))


@router.get("/{content_type}/{content_id}", operation_id="queryDataQualityWarningsByContent")
async def list_warnings(
    request: Request, content_type: str, content_id: str, store: StoreDep, caller: SiteCallerDep
) -> Response:
    kind = labels.content_kind(content_type)
    return respond(request, warning_list(await labels.of_content(store, caller, kind, content_id)))


@router.put("/{content_type}/{content_id}", operation_id="updateDataQualityWarningsByContent")
async def update_content_warnings(
    request: Request, content_type: str, content_id: str, store: StoreDep, caller: SiteCallerDep
) -> Response:
    kind = labels.content_kind(content_type)
    fields = await _fields(request)
    return respond(
        request, warning_list(await labels.update_content(store, caller, kind, content_id, fields))
    )


@router.delete(
    "/{content_type}/{content_id}",
    status_code=204,
    operation_id="deleteDataQualityWarningsByContent",
)
async def delete_content_warnings(
    content_type: str, content_id: str, store: StoreDep, caller: SiteCallerDep
) -> Response:
    kind = labels.content_kind(content_type)
    await labels.delete_content(store, caller, kind, content_id)
    return no_content()


@router.get("/{warning_id}", operation_id="queryDataQualityWarning")
async def get_warning(
    request: Request, warning_id: str, store: StoreDep, caller: SiteCallerDep
) -> Response:
    return respond(request, warning_element(await labels.get(store, caller, warning_id)))


@router.put("/{warning_id}", operation_id="updateDataQualityWarning")
async def update_warning(
    request: Request, warning_id: str, store: StoreDep, caller: SiteCallerDep
) -> Response:
    fields = await _fields(request)
    return respond(request, warning_element(await labels.update(store, caller, warning_id, fields)))


@router.delete("/{warning_id}", status_code=204, operation_id="deleteDataQualityWarning")
async def delete_warning(warning_id: str, store: StoreDep, caller: SiteCallerDep) -> Response:
    await labels.delete(store, caller, warning_id)
    return no_content()
