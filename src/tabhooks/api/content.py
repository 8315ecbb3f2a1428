"""``/api/{v}/sites/{site_id}/workbooks`` and ``/datasources`` (and ``/flows``): publish,
list, get, update, delete, download and connections. One factory serves the three kinds,
because Tableau shapes their methods alike; what differs is in :class:`KindSpec`."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from tabhooks.api.content_xml import connection_element, content_element
from tabhooks.api.deps import SiteCallerDep, StoreDep, require_version
from tabhooks.api.jobs import job_element
from tabhooks.api.multipart import Part, read_parts
from tabhooks.api.wire import (
    Shape,
    attachment,
    base_url,
    fields_of,
    listing_of,
    no_content,
    page_of,
    read_body,
    respond,
    select_fields,
)
from tabhooks.errors import BadRequest
from tabhooks.models import ContentKind
from tabhooks.services import contents, publish
from tabhooks.services import jobs as jobs_service
from tabhooks.store.contents import CATALOGS
from tabhooks.tsxml import Element, listing, parse_request


@dataclass(frozen=True, slots=True)
class KindSpec:
    kind: ContentKind
    collection: str  # URL segment and list element: workbooks, datasources, flows
    element: str  # workbook, datasource, flow
    file_part: str  # tableau_workbook, tableau_datasource, tableau_flow
    type_param: str  # workbookType, datasourceType, flowType
    job_type: str  # PublishWorkbook, PublishDatasource, PublishFlow


SPECS = tuple(
    KindSpec(kind, f"{name}s", name, f"tableau_{name}", f"{name}Type", f"Publish{name.title()}")
    for kind, name in (
        (ContentKind.WORKBOOK, "workbook"),
        (ContentKind.DATASOURCE, "datasource"),
        (ContentKind.FLOW, "flow"),
    )
)

_COMMON_ATTRS = frozenset(
    {"id", "name", "contentUrl", "description", "webpageUrl", "size", "createdAt", "updatedAt"}
)
_PARTS = {
    "project": frozenset({"id", "name"}),
    "owner": frozenset({"id", "name"}),
    "tags": frozenset(),
}
#: What ``fields=`` may name (Tableau supports it on workbooks and data sources).
SHAPES = {
    ContentKind.WORKBOOK: Shape(_COMMON_ATTRS | {"showTabs", "defaultViewId"}, _PARTS),
    ContentKind.DATASOURCE: Shape(
        _COMMON_ATTRS
        | {"type", "hasExtracts", "encryptExtracts", "isCertified", "certificationNote"},
        _PARTS,
    ),
}


def publish_limits(request: Request) -> publish.PublishLimits:
    """The app's publish caps and parsing limiter, built on first use inside its loop."""
    state = request.app.state
    limits: publish.PublishLimits | None = getattr(state, "publish_limits", None)
    if limits is None:
        limits = state.publish_limits = publish.PublishLimits.from_settings(state.settings)
    return limits


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "").lower() == "true"


def _certified(node: Element) -> bool | None:
    """``isCertified``; TSC sends ``"none"`` for an item it never read from the server, which
    changes nothing."""
    raw = node.attr("isCertified")
    if raw is not None and raw.strip().lower() == "none":
        return None
    return node.attr_bool("isCertified")


def _payload(parts: dict[str, Part], spec: KindSpec) -> Element:
    part = parts.get("request_payload")
    if part is None:
        names = ", ".join(repr(n) for n in parts) or "none"
        raise BadRequest(f"The multipart body needs a 'request_payload' part (got {names}).")
    node = parse_request(bytes(part.data)).child(spec.element)
    if node is None:
        raise BadRequest(f"request_payload must contain <{spec.element}>.")
    return node


def _credentials(node: Element) -> publish.Credentials | None:
    creds = node.child("connectionCredentials")
    if creds is None:
        for connections in node.all("connections"):
            for connection in connections.all("connection"):
                creds = connection.child("connectionCredentials")
                if creds is not None:
                    break
    if creds is None:
        return None
    return publish.Credentials(
        creds.attr("name"), creds.attr("password"), bool(creds.attr_bool("embed"))
    )


def make_router(spec: KindSpec) -> APIRouter:
    router = APIRouter(
        prefix=f"/api/{{api_version}}/sites/{{site_id}}/{spec.collection}",
        dependencies=[Depends(require_version())],
    )

    def render(request: Request, caller: object, content: object, views: object = None) -> Element:
        return content_element(content, base_url(request), caller.site.content_url, views)  # type: ignore[arg-type, attr-defined]

    @router.post("", status_code=201, operation_id=f"publish{spec.element.title()}")
    async def publish_content(request: Request, store: StoreDep, caller: SiteCallerDep) -> Response:
        parts = await read_parts(request)
        node = _payload(parts, spec)
        file_part = parts.get(spec.file_part)
        upload_id = request.query_params.get("uploadSessionId")
        if file_part is None and not upload_id:
            others = [n for n in parts if n != "request_payload"]
            hint = f" (got {', '.join(repr(n) for n in others)})" if others else ""
            raise BadRequest(f"The multipart body needs a '{spec.file_part}' part{hint}.")
        project = node.child("project")
        result = await publish.publish(
            store,
            caller,
            publish.PublishRequest(
                kind=spec.kind,
                name=node.attr("name"),
                project_id=project.attr("id") if project is not None else None,
                file_name=(file_part.filename if file_part else None) or "",
                data=bytes(file_part.data) if file_part else None,
                declared_type=request.query_params.get(spec.type_param),
                description=node.attr("description") or "",
                show_tabs=bool(node.attr_bool("showTabs")),
                overwrite=_flag(request, "overwrite"),
                append=_flag(request, "append"),
                credentials=_credentials(node),
                upload_session_id=upload_id,
            ),
            publish_limits(request),
        )
        if _flag(request, "asJob"):
            job = await jobs_service.record_publish(store, caller, spec.job_type, result.content)
            return respond(request, job_element(job), status=202)
        return respond(request, render(request, caller, result.content, result.views), status=201)

    @router.get("", operation_id=f"query{spec.collection.title()}")
    async def list_content(request: Request, store: StoreDep, caller: SiteCallerDep) -> Response:
        page = page_of(request)
        query = listing_of(request, CATALOGS[spec.kind], page)
        shape = SHAPES.get(spec.kind)
        asked = fields_of(request, shape) if shape is not None else None
        found, total = await contents.search(store, caller, spec.kind, query)
        items = [select_fields(render(request, caller, c), asked) for c in found]
        return respond(request, page.element(total), listing(spec.collection, items))

    @router.get("/{content_id}", operation_id=f"get{spec.element.title()}")
    async def get_content(
        request: Request, content_id: str, store: StoreDep, caller: SiteCallerDep
    ) -> Response:
        content, views = await contents.get(store, caller, spec.kind, content_id)
        shown = views if spec.kind is ContentKind.WORKBOOK else None
        return respond(request, render(request, caller, content, shown))

    @router.put("/{content_id}", operation_id=f"update{spec.element.title()}")
    async def update_content(
        request: Request, content_id: str, store: StoreDep, caller: SiteCallerDep
    ) -> Response:
        node = (await read_body(request)).child(spec.element)
        if node is None:
            raise BadRequest(f"The request must contain a <{spec.element}> element.")
        project, owner = node.child("project"), node.child("owner")
        changes = contents.ContentChanges(
            name=node.attr("name"),
            description=node.attr("description"),
            show_tabs=node.attr_bool("showTabs"),
            project_id=project.attr("id") if project is not None else None,
            owner_id=owner.attr("id") if owner is not None else None,
            is_certified=_certified(node) if spec.kind is ContentKind.DATASOURCE else None,
            certification_note=node.attr("certificationNote")
            if spec.kind is ContentKind.DATASOURCE
            else None,
        )
        updated = await contents.update(store, caller, spec.kind, content_id, changes)
        return respond(request, render(request, caller, updated))

    @router.delete("/{content_id}", status_code=204, operation_id=f"delete{spec.element.title()}")
    async def delete_content(content_id: str, store: StoreDep, caller: SiteCallerDep) -> Response:
        await contents.delete(store, caller, spec.kind, content_id)
        return no_content()

    @router.get("/{content_id}/content", operation_id=f"download{spec.element.title()}")
    async def download_content(content_id: str, store: StoreDep, caller: SiteCallerDep) -> Response:
        content, data = await contents.download(store, caller, spec.kind, content_id)
        return Response(
            data,
            media_type="application/octet-stream",
            headers={"Content-Disposition": attachment(content.file_name)},
        )

    @router.get("/{content_id}/connections", operation_id=f"query{spec.element.title()}Connections")
    async def list_connections(
        request: Request, content_id: str, store: StoreDep, caller: SiteCallerDep
    ) -> Response:
        content, found = await contents.connections(store, caller, spec.kind, content_id)
        return respond(
            request, listing("connections", [connection_element(c, content) for c in found])
        )

    @router.put(
        "/{content_id}/connections/{connection_id}",
        operation_id=f"update{spec.element.title()}Connection",
    )
    async def update_connection(
        request: Request,
        content_id: str,
        connection_id: str,
        store: StoreDep,
        caller: SiteCallerDep,
    ) -> Response:
        node = (await read_body(request)).child("connection")
        if node is None:
            raise BadRequest("The request must contain a <connection> element.")
        changes = contents.ConnectionChanges(
            server_address=node.attr("serverAddress"),
            server_port=node.attr("serverPort"),
            username=node.attr("userName"),
            password=node.attr("password"),
            embed_password=node.attr_bool("embedPassword"),
            query_tagging=node.attr_bool("queryTaggingEnabled"),
        )
        content, connection = await contents.update_connection(
            store, caller, spec.kind, content_id, connection_id, changes
        )
        return respond(request, connection_element(connection, content))

    return router


routers = [make_router(spec) for spec in SPECS]
