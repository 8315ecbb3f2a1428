"""Views: ``/workbooks/{id}/views``, ``/views`` and ``/views/{id}``."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from tabhooks.api.content_xml import view_element
from tabhooks.api.deps import SiteCallerDep, StoreDep, require_version
from tabhooks.api.wire import Shape, fields_of, listing_of, page_of, respond, select_fields
from tabhooks.models import ContentKind
from tabhooks.services import contents
from tabhooks.store.contents import VIEW_FIELDS
from tabhooks.tsxml import listing

router = APIRouter(
    prefix="/api/{api_version}/sites/{site_id}", dependencies=[Depends(require_version())]
)
#: What ``fields=`` may name on Query Views for Site.
SHAPE = Shape(
    frozenset({"id", "name", "contentUrl", "sheetType", "viewUrlName", "createdAt", "updatedAt"}),
    {
        "workbook": frozenset({"id"}),
        "owner": frozenset({"id"}),
        "project": frozenset({"id"}),
        "tags": frozenset(),
    },
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
    query = listing_of(request, VIEW_FIELDS, page)
    asked = fields_of(request, SHAPE)
    found, total = await contents.search_views(store, caller, query)
    items = [select_fields(view_element(v), asked) for v in found]
    return respond(request, page.element(total), listing("views", items))


@router.get("/views/{view_id}", operation_id="getView")
async def get_view(
    request: Request, view_id: str, store: StoreDep, caller: SiteCallerDep
) -> Response:
    return respond(request, view_element(await contents.view(store, caller, view_id)))
