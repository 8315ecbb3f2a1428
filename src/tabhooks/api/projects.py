"""``/api/{v}/sites/{site_id}/projects``: list (filter, pages), create, get, update, delete."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from tabhooks.api.content_xml import project_element
from tabhooks.api.deps import SiteCallerDep, StoreDep, require_version
from tabhooks.api.wire import (
    Shape,
    fields_of,
    listing_of,
    no_content,
    page_of,
    read_body,
    respond,
    select_fields,
)
from tabhooks.errors import BadRequest
from tabhooks.services import projects
from tabhooks.store.projects import PROJECT_FIELDS
from tabhooks.tsxml import Element, listing

router = APIRouter(
    prefix="/api/{api_version}/sites/{site_id}/projects", dependencies=[Depends(require_version())]
)
#: What ``fields=`` may name on Query Projects.
SHAPE = Shape(
    frozenset(
        {
            "id",
            "name",
            "description",
            "contentPermissions",
            "parentProjectId",
            "createdAt",
            "updatedAt",
        }
    ),
    {"owner": frozenset({"id"})},
)


def _project_body(body: Element) -> Element:
    node = body.child("project")
    if node is None:
        raise BadRequest("The request must contain a <project> element.")
    return node


@router.get("", operation_id="queryProjects")
async def list_projects(request: Request, store: StoreDep, caller: SiteCallerDep) -> Response:
    page = page_of(request)
    query = listing_of(request, PROJECT_FIELDS, page)
    asked = fields_of(request, SHAPE)
    found, total = await projects.search(store, caller, query)
    items = [select_fields(project_element(p), asked) for p in found]
    return respond(request, page.element(total), listing("projects", items))


@router.post("", status_code=201, operation_id="createProject")
async def create_project(request: Request, store: StoreDep, caller: SiteCallerDep) -> Response:
    node = _project_body(await read_body(request))
    project = await projects.create(
        store,
        caller,
        name=node.attr("name") or "",
        description=node.attr("description") or "",
        parent_id=node.attr("parentProjectId") or None,
        content_permissions=node.attr("contentPermissions"),
    )
    return respond(request, project_element(project), status=201)


@router.get("/{project_id}", operation_id="getProject")
async def get_project(
    request: Request, project_id: str, store: StoreDep, caller: SiteCallerDep
) -> Response:
    return respond(request, project_element(await projects.get(store, caller, project_id)))


@router.put("/{project_id}", operation_id="updateProject")
async def update_project(
    request: Request, project_id: str, store: StoreDep, caller: SiteCallerDep
) -> Response:
    node = _project_body(await read_body(request))
    project = await projects.update(
        store,
        caller,
        project_id,
        name=node.attr("name"),
        description=node.attr("description"),
        parent_id=node.attr("parentProjectId") or None,
        content_permissions=node.attr("contentPermissions"),
    )
    return respond(request, project_element(project))


@router.delete("/{project_id}", status_code=204, operation_id="deleteProject")
async def delete_project(project_id: str, store: StoreDep, caller: SiteCallerDep) -> Response:
    await projects.delete(store, caller, project_id)
    return no_content()
