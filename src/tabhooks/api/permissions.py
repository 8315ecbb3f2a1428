"""Tableau's permission methods: Query / Add / Delete permissions of projects, workbooks, data
sources, flows and views, and Query / Add / Delete a project's default permissions.

The answer is Tableau's ``<permissions>``: the resource (``<workbook id name><owner/></workbook>``,
for default permissions the project), then one ``<granteeCapabilities>`` per grantee with its
``<user id/>`` or ``<group id/>`` and ``<capabilities><capability name mode/>...``. In JSON the
grantees are an array even when there is one, as Tableau writes them:
``{"permissions": {"workbook": {...}, "granteeCapabilities": [{"group": {"id": ...},
"capabilities": {"capability": [{"name": "Read", "mode": "Allow"}]}}]}}``.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from tabhooks import tsxml
from tabhooks.api.deps import SiteCallerDep, StoreDep, require_version
from tabhooks.api.wire import no_content, read_body, respond
from tabhooks.errors import BadRequest, ResourceNotFound
from tabhooks.services import permissions
from tabhooks.store.permissions import Rule
from tabhooks.tsxml import Element, Prerendered, element, listing

router = APIRouter(
    prefix="/api/{api_version}/sites/{site_id}", dependencies=[Depends(require_version())]
)

#: URI collection → resource type.
COLLECTIONS = {
    "projects": "project",
    "workbooks": "workbook",
    "datasources": "datasource",
    "flows": "flow",
    "views": "view",
}
_GRANTEE_SEGMENTS = {"users": "user", "groups": "group"}
_EMPTY_XML = tsxml.render([], tsxml.Dialect.XML).decode()
_XML_HEAD = _EMPTY_XML[: -len("</tsResponse>")]


def _xml_of(node: Element) -> str:
    """``node`` serialised as it stands inside a tsResponse."""
    return tsxml.render([node], tsxml.Dialect.XML).decode()[len(_XML_HEAD) : -len("</tsResponse>")]


def _json_of(node: Element) -> object:
    return json.loads(tsxml.render([node], tsxml.Dialect.JSON))[node.tag]


def permissions_element(listed: permissions.Listed) -> Element:
    """Tableau's ``<permissions>`` for a resource and rules, grantee by grantee."""
    resource = listed.resource
    parent = element(
        resource.type,
        element("owner", id=resource.owner_id) if resource.owner_id else None,
        id=resource.id,
        name=resource.name,
    )
    grantees: dict[tuple[str, str], list[Rule]] = {}
    for rule in listed.rules:
        grantees.setdefault((rule.grantee_type, rule.grantee_id), []).append(rule)
    granted = [
        element(
            "granteeCapabilities",
            element(grantee_type, id=grantee_id),
            listing(
                "capabilities",
                [element("capability", name=r.capability, mode=r.mode) for r in rules],
            ),
        )
        for (grantee_type, grantee_id), rules in grantees.items()
    ]
    xml = f"<permissions>{_xml_of(parent)}{''.join(_xml_of(g) for g in granted)}</permissions>"
    return Prerendered(
        "permissions",
        xml,
        lambda: {
            parent.tag: _json_of(parent),
            "granteeCapabilities": [_json_of(g) for g in granted],
        },
    )


def _grants(body: Element) -> list[permissions.Grant]:
    """The ``<granteeCapabilities>`` of an Add Permissions request."""
    node = body.child("permissions")
    if node is None:
        raise BadRequest("The request must contain a <permissions> element.")
    out = []
    for granted in node.all("granteeCapabilities"):
        user, group = granted.child("user"), granted.child("group")
        grantee = user if user is not None else group
        if grantee is None or not grantee.attr("id") or (user is not None and group is not None):
            raise BadRequest(
                "Each <granteeCapabilities> must name one <user id=...> or <group id=...>."
            )
        capabilities = granted.child("capabilities")
        pairs = tuple(
            (c.attr("name") or "", c.attr("mode") or "")
            for c in (capabilities.all("capability") if capabilities is not None else ())
        )
        out.append(
            permissions.Grant(
                "user" if user is not None else "group", grantee.attr("id") or "", pairs
            )
        )
    return out


def _grantee(segment: str) -> str:
    found = _GRANTEE_SEGMENTS.get(segment)
    if found is None:
        raise ResourceNotFound(f"Permissions are kept for users and groups, not '{segment[:40]}'.")
    return found


def _routes(collection: str, resource_type: str) -> None:
    title = {"datasource": "DataSource"}.get(resource_type, resource_type.title())
    base = f"/{collection}/{{resource_id}}/permissions"

    async def query(
        request: Request, resource_id: str, store: StoreDep, caller: SiteCallerDep
    ) -> Response:
        listed = await permissions.query(store, caller, resource_type, resource_id)
        return respond(request, permissions_element(listed))

    async def add(
        request: Request, resource_id: str, store: StoreDep, caller: SiteCallerDep
    ) -> Response:
        grants = _grants(await read_body(request))
        listed = await permissions.add(store, caller, resource_type, resource_id, grants)
        return respond(request, permissions_element(listed))

    async def delete(
        resource_id: str,
        grantee_type: str,
        grantee_id: str,
        capability: str,
        mode: str,
        store: StoreDep,
        caller: SiteCallerDep,
    ) -> Response:
        await permissions.delete(
            store, caller, resource_type, resource_id, _grantee(grantee_type), grantee_id,
            capability, mode,
        )  # fmt: skip
        return no_content()

    router.add_api_route(base, query, methods=["GET"], operation_id=f"query{title}Permissions")
    router.add_api_route(base, add, methods=["PUT"], operation_id=f"add{title}Permissions")
    router.add_api_route(
        f"{base}/{{grantee_type}}/{{grantee_id}}/{{capability}}/{{mode}}",
        delete,
        methods=["DELETE"],
        status_code=204,
        operation_id=f"delete{title}Permission",
    )


for _collection, _type in COLLECTIONS.items():
    _routes(_collection, _type)

_DEFAULTS = "/projects/{project_id}/default-permissions/{content_type}"


@router.get(_DEFAULTS, operation_id="queryDefaultPermissions")
async def query_defaults(
    request: Request, project_id: str, content_type: str, store: StoreDep, caller: SiteCallerDep
) -> Response:
    listed = await permissions.query_defaults(store, caller, project_id, content_type)
    return respond(request, permissions_element(listed))


@router.put(_DEFAULTS, operation_id="addDefaultPermissions")
async def add_defaults(
    request: Request, project_id: str, content_type: str, store: StoreDep, caller: SiteCallerDep
) -> Response:
    grants = _grants(await read_body(request))
    listed = await permissions.add_defaults(store, caller, project_id, content_type, grants)
    return respond(request, permissions_element(listed))


@router.delete(
    f"{_DEFAULTS}/{{grantee_type}}/{{grantee_id}}/{{capability}}/{{mode}}",
    status_code=204,
    operation_id="deleteDefaultPermission",
)
async def delete_default(
    project_id: str,
    content_type: str,
    grantee_type: str,
    grantee_id: str,
    capability: str,
    mode: str,
    store: StoreDep,
    caller: SiteCallerDep,
) -> Response:
    await permissions.delete_default(
        store, caller, project_id, content_type, _grantee(grantee_type), grantee_id, capability,
        mode,
    )  # fmt: skip
    return no_content()
