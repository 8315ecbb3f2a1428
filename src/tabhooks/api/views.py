"""Views: ``/workbooks/{id}/views``, ``/views`` and ``/views/{id}``."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from tabhooks.api.content_xml import view_element
from tabhooks.api.deps import SiteCallerDep, StoreDep, require_version
from tabhooks.api.wire import filters_of, page_of, respond
from tabhooks.models import ContentKind
from tabhooks.services import contents
from tabhooks.tsxml import listing

router = APIRouter(
    prefix="/api/{api_version}/sites/{site_id}", dependencies=[Depends(require_version())]
)


@router.get("/workbooks/{workbook_id}/views", operation_id="queryViewsForWorkbook")
async def workbook_views(
    request: Request, workbook_id: str, store: StoreDep, caller: SiteCallerDep
) -> Response:
    _, found = await contents.get(store, caller, ContentKind.WORKBOOK, workbook_id)
    return respond(request, listing("views", [view_element(v) for v in found]))


@router.get("/views", operation_id="queryViewsForSite")
async def site_views(request: Request, store: StoreDep, caller: SiteCallerDep) -> Response:
    page = page_of(request)
    conditions = filters_of(request, {"name": {"eq", "in"}})
    found, total = await contents.site_views(
        store,
        caller,
        names=conditions["name"].values if "name" in conditions else None,
        offset=page.offset,
        limit=page.size,
    )
    return respond(request, page.element(total), listing("views", [view_element(v) for v in found]))


@router.get("/views/{view_id}", operation_id="getView")
async def get_view(
    request: Request, view_id: str, store: StoreDep, caller: SiteCallerDep
) -> Response:
    return respond(request, view_element(await contents.view(store, caller, view_id)))
