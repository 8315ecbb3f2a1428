"""Publishing workbooks, data sources and flows: new, overwrite and append.

The file is parsed before anything is written (a corrupt package or an XML bomb is refused
with nothing stored), then the content row, its bytes, connections and views, and the
matching event (``*Created``, or ``*Updated`` plus ``ViewDeleted`` for views a republish
removed) are written in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from tabhooks.errors import (
    BadRequest,
    ContentConflict,
    PayloadTooLarge,
    ProjectNotFound,
    UploadNotFound,
)
from tabhooks.models import Content, ContentKind, View
from tabhooks.services import contents as contents_service
from tabhooks.services.emit import emit
from tabhooks.services.principal import Principal
from tabhooks.store import Store
from tabhooks.store import contents as contents_store
from tabhooks.store import projects as projects_store
from tabhooks.store import uploads as uploads_store
from tabhooks.tableau_files import DATASOURCE_TYPES, FLOW_TYPES, WORKBOOK_TYPES, file_type_of, parse

ALLOWED_TYPES = {
    ContentKind.WORKBOOK: WORKBOOK_TYPES,
    ContentKind.DATASOURCE: DATASOURCE_TYPES,
    ContentKind.FLOW: FLOW_TYPES,
}


@dataclass(frozen=True, slots=True)
class Credentials:
    """``connectionCredentials``: applied to every connection of the published file."""

    username: str | None
    password: str | None
    embed: bool


@dataclass(frozen=True, slots=True)
class PublishRequest:
    kind: ContentKind
    name: str | None
    project_id: str | None
    file_name: str
    data: bytes | None
    declared_type: str | None = None
    description: str = ""
    show_tabs: bool = False
    overwrite: bool = False
    append: bool = False
    credentials: Credentials | None = None
    upload_session_id: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Published:
    content: Content
    views: list[View]
    created: bool


async def publish(store: Store, principal: Principal, request: PublishRequest) -> Published:
    contents_service.require_publisher(principal)
    site_id = principal.site.id
    kind = request.kind
    if not request.name or not request.name.strip():
        raise BadRequest(
            f"The {kind.value} name is required (request_payload <{kind.value} name=...>)."
        )
    if request.overwrite and request.append:
        raise BadRequest("overwrite and append cannot both be true.")
    if request.append and kind is not ContentKind.DATASOURCE:
        raise BadRequest("Only data sources can be appended to.")
    data = request.data
    if request.upload_session_id:
        data = await _take_upload(store, principal, request.upload_session_id)
    if data is None:
        part = {
            ContentKind.WORKBOOK: "tableau_workbook",
            ContentKind.DATASOURCE: "tableau_datasource",
        }.get(kind, "tableau_flow")
        raise BadRequest(f"The request has no file: send a '{part}' part or an uploadSessionId.")
    file_type = (request.declared_type or file_type_of(request.file_name)).lower()
    if file_type not in ALLOWED_TYPES[kind]:
        raise BadRequest(
            f"'.{file_type}' cannot be published as a {kind.value}; use one of "
            f"{', '.join('.' + t for t in ALLOWED_TYPES[kind])}."
        )
    if request.declared_type and file_type_of(request.file_name) not in ("", file_type):
        raise BadRequest(f"The file '{request.file_name}' is not a .{file_type} file.")
    parsed = parse(request.file_name, data, declared_type=file_type)
    new = contents_store.NewContent(
        site_id=site_id,
        kind=kind,
        name=request.name,
        project_id=request.project_id or "",
        owner_id=principal.user.id,
        description=request.description,
        show_tabs=request.show_tabs,
        type=parsed.datasource_type if kind is ContentKind.DATASOURCE else "",
        file_name=request.file_name or f"{request.name}.{file_type}",
        file_type=file_type,
        data=data,
        has_extracts=parsed.has_extracts,
    )
    credentials = request.credentials or Credentials(None, None, False)
    async with store.write() as conn:
        project = (
            await projects_store.get(conn, site_id, request.project_id)
            if request.project_id
            else await projects_store.ensure_default(conn, site_id, principal.user.id)
        )
        if project is None:
            raise ProjectNotFound(f"No project with id '{request.project_id}' exists on this site.")
        new = replace(new, project_id=project.id)
        existing = await contents_store.find_in_project(
            conn, site_id, kind, project.id, request.name
        )
        if existing is not None and not (request.overwrite or request.append):
            raise ContentConflict(
                f"A {kind.value} named '{request.name}' already exists in project "
                f"'{project.name}'; publish with overwrite=true to replace it."
            )
        if existing is None:
            content_id = await contents_store.create(conn, new)
        else:
            # Overwriting (or appending to) content changes it: the same rule as Update.
            contents_service.require_owner_or_admin(principal, existing)
            content_id = existing.id
            await contents_store.replace_file(conn, content_id, new)
        await contents_store.set_connections(
            conn, content_id, parsed.connections, username=credentials.username,
            password=credentials.password, embed=credentials.embed,
        )  # fmt: skip
        content = await contents_service.require(conn, site_id, kind, content_id)
        removed: list[View] = []
        if kind is ContentKind.WORKBOOK:
            removed = await contents_store.sync_views(
                conn, site_id, content_id, content.content_url, parsed.views
            )
        for view in removed:
            await emit(
                conn, "ViewDeleted", site_id=site_id, resource_luid=view.id, resource_name=view.name
            )
        event = (
            contents_service.CREATED_EVENT if existing is None else contents_service.UPDATED_EVENT
        ).get(kind)
        if event:
            await emit(
                conn, event, site_id=site_id, resource_luid=content_id, resource_name=content.name
            )
        views = (
            await contents_store.views_of(conn, content_id) if kind is ContentKind.WORKBOOK else []
        )
    return Published(content, views, existing is None)


async def _take_upload(store: Store, principal: Principal, upload_id: str) -> bytes:
    async with store.write() as conn:
        found = await uploads_store.owner(conn, upload_id)
        if found is None or found != (principal.site.id, principal.user.id):
            raise UploadNotFound(f"No upload session '{upload_id}' of yours exists.")
        data = await uploads_store.assemble(conn, upload_id)
        await uploads_store.remove(conn, upload_id)
    return data


async def start_upload(store: Store, principal: Principal) -> str:
    contents_service.require_publisher(principal)
    async with store.write() as conn:
        return await uploads_store.create(
            conn, site_id=principal.site.id, user_id=principal.user.id
        )


async def append_upload(
    store: Store, principal: Principal, upload_id: str, data: bytes, *, max_bytes: int
) -> int:
    async with store.write() as conn:
        found = await uploads_store.owner(conn, upload_id)
        if found is None or found != (principal.site.id, principal.user.id):
            raise UploadNotFound(f"No upload session '{upload_id}' of yours exists.")
        if await uploads_store.size(conn, upload_id) + len(data) > max_bytes:
            raise PayloadTooLarge(f"An upload session may hold at most {max_bytes} bytes.")
        return await uploads_store.append(conn, upload_id, data)
