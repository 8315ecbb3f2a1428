"""``/api/{v}/sites``: query, create, update and delete sites."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from tabhooks.api.deps import CallerDep, StoreDep, forget_principals, require_version
from tabhooks.api.wire import no_content, page_of, read_body, respond
from tabhooks.errors import BadRequest
from tabhooks.models import Site
from tabhooks.services import sites
from tabhooks.tsxml import Element, element, listing

router = APIRouter(prefix="/api/{api_version}/sites", dependencies=[Depends(require_version())])


def site_element(site: Site) -> Element:
    return element(
        "site",
        id=site.id,
        name=site.name,
        contentUrl=site.content_url,
        adminMode=site.admin_mode,
        state=site.state,
    )


def _site_body(body: Element) -> Element:
    site = body.child("site")
    if site is None:
        raise BadRequest("The request must contain a <site> element.")
    return site


@router.post("", status_code=201, operation_id="createSite")
async def create_site(request: Request, store: StoreDep, caller: CallerDep) -> Response:
    body = _site_body(await read_body(request))
    name = body.attr("name")
    if not name:
        raise BadRequest("The site name is required.")
    site = await sites.create(
        store,
        caller,
        name=name,
        content_url=body.attr("contentUrl") or "",
        admin_mode=body.attr("adminMode"),
    )
    forget_principals(request)
    return respond(request, site_element(site), status=201)


@router.get("", operation_id="querySites")
async def query_sites(request: Request, store: StoreDep, caller: CallerDep) -> Response:
    page = page_of(request)
    found, total = await sites.listing(store, caller, offset=page.offset, limit=page.size)
    return respond(request, page.element(total), listing("sites", [site_element(s) for s in found]))


@router.get("/{site_key}", operation_id="querySite")
async def query_site(
    request: Request, site_key: str, store: StoreDep, caller: CallerDep
) -> Response:
    by = request.query_params.get("key", "id")
    return respond(request, site_element(await sites.get(store, caller, site_key, by=by)))


@router.put("/{site_id}", operation_id="updateSite")
async def update_site(
    request: Request, site_id: str, store: StoreDep, caller: CallerDep
) -> Response:
    body = _site_body(await read_body(request))
    site = await sites.update(
        store,
        caller,
        site_id,
        name=body.attr("name"),
        content_url=body.attr("contentUrl"),
        admin_mode=body.attr("adminMode"),
        state=body.attr("state"),
    )
    forget_principals(request)
    return respond(request, site_element(site))


@router.delete("/{site_id}", status_code=204, operation_id="deleteSite")
async def delete_site(
    request: Request, site_id: str, store: StoreDep, caller: CallerDep
) -> Response:
    await sites.delete(store, caller, site_id)
    forget_principals(request)
    return no_content()
