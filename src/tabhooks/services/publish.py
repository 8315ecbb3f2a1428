"""Publishing workbooks, data sources and flows: new, overwrite and append.

The file is parsed before anything is written (a corrupt package or an XML bomb is refused
with nothing stored), then the content row, its bytes, connections and views, and the
matching event (``*Created``, or ``*Updated`` plus ``ViewDeleted`` for views a republish
removed) are written in one transaction.

Parsing runs in a worker thread, at most :data:`PARALLEL_PARSES` at a time, under the caps
of :class:`PublishLimits`: the API, the dispatcher and the jobs share one event loop, and a
61 KB package holding 60 MB of XML used to hold it for 21 s. A publish from an upload
session removes the session in the publishing transaction, so one refused (bad file, name
taken, unknown project) leaves the session to be committed again.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import anyio
import anyio.to_thread
from sqlalchemy.ext.asyncio import AsyncConnection

from tabhooks.config import Settings
from tabhooks.errors import (
    BadRequest,
    CapabilityForbidden,
    ContentConflict,
    PayloadTooLarge,
    ProjectNotFound,
    UploadNotFound,
    UploadQuotaExceeded,
)
from tabhooks.models import Content, ContentKind, View
from tabhooks.services import contents as contents_service
from tabhooks.services import permissions
from tabhooks.services.emit import emit
from tabhooks.services.principal import Principal
from tabhooks.store import Store
from tabhooks.store import contents as contents_store
from tabhooks.store import projects as projects_store
from tabhooks.store import uploads as uploads_store
from tabhooks.store.tables import utcnow
from tabhooks.tableau_files import (
    DATASOURCE_TYPES,
    FLOW_TYPES,
    WORKBOOK_TYPES,
    ParseLimits,
    file_type_of,
    parse,
)

log = logging.getLogger(__name__)

#: Files parsed at once, each in its own worker thread; more publishes wait their turn.
#: Parsing is CPU-bound under the GIL, so more threads would only slow the event loop.
PARALLEL_PARSES = 2

ALLOWED_TYPES = {
    ContentKind.WORKBOOK: WORKBOOK_TYPES,
    ContentKind.DATASOURCE: DATASOURCE_TYPES,
    ContentKind.FLOW: FLOW_TYPES,
}


@dataclass(frozen=True, slots=True)
class PublishLimits:
    """What one publish and one user's upload sessions may cost (from :class:`Settings`).

    Build it once per app, inside its event loop: it holds the limiter that bounds parsing
    threads.
    """

    parse: ParseLimits
    parse_slots: anyio.CapacityLimiter
    session_ttl: timedelta
    max_sessions_per_user: int
    max_session_bytes: int
    max_user_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> PublishLimits:
        return cls(
            parse=ParseLimits(
                max_xml_bytes=settings.max_workbook_xml_bytes,
                max_elements=settings.max_workbook_elements,
                max_views=settings.max_views_per_workbook,
            ),
            parse_slots=anyio.CapacityLimiter(PARALLEL_PARSES),
            session_ttl=timedelta(hours=settings.upload_session_ttl_hours),
            max_sessions_per_user=settings.max_upload_sessions_per_user,
            max_session_bytes=settings.max_upload_session_bytes,
            max_user_bytes=settings.max_upload_bytes_per_user,
        )

    def sessions_started_after(self) -> datetime:
        """The oldest start time of a session still alive."""
        return utcnow() - self.session_ttl


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


async def publish(
    store: Store, principal: Principal, request: PublishRequest, limits: PublishLimits
) -> Published:
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
        data = await _read_upload(store, principal, request.upload_session_id, limits)
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
    parsed = await anyio.to_thread.run_sync(
        functools.partial(
            parse, request.file_name, data, declared_type=file_type, limits=limits.parse
        ),
        limiter=limits.parse_slots,
    )
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
        if request.upload_session_id:
            await _consume_upload(conn, principal, request.upload_session_id, limits)
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
            # Overwriting (or appending to) content changes it: Write on it, as Update needs;
            # Tableau refuses that as "insufficient publishing permission" (403007), and says
            # so whether or not the caller can see the item, as the name clash (409) does.
            acc = await permissions.access(conn, principal)
            if not await permissions.allows_content(conn, acc, existing, permissions.WRITE):
                raise CapabilityForbidden(
                    f"User '{principal.user.name}' may not overwrite {kind.value} "
                    f"'{existing.name}': that needs Write on it (owners, project leaders and "
                    "administrators have it).",
                    "403007",
                )
            content_id = existing.id
            await contents_store.replace_file(conn, content_id, new)
        await contents_store.set_connections(
            conn, content_id, parsed.connections, username=credentials.username,
            password=credentials.password, embed=credentials.embed,
        )  # fmt: skip
        content = await contents_service.require(conn, site_id, kind, content_id)
        if existing is None:  # new content starts from its project's default permissions
            await permissions.on_new_content(conn, content)
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


async def _read_upload(
    store: Store, principal: Principal, upload_id: str, limits: PublishLimits
) -> bytes:
    """The session's file, left in place until the publish that uses it commits."""
    async with store.read() as conn:
        await _require_own_upload(conn, principal, upload_id, limits)
        return await uploads_store.assemble(conn, upload_id)


async def _consume_upload(
    conn: AsyncConnection, principal: Principal, upload_id: str, limits: PublishLimits
) -> None:
    """Remove the session inside the publishing transaction: a refused publish keeps it,
    and of two publishes from one session only the first commits."""
    await _require_own_upload(conn, principal, upload_id, limits)
    await uploads_store.remove(conn, upload_id)


async def _require_own_upload(
    conn: AsyncConnection, principal: Principal, upload_id: str, limits: PublishLimits
) -> None:
    found = await uploads_store.owner(
        conn, upload_id, started_after=limits.sessions_started_after()
    )
    if found is None or found != (principal.site.id, principal.user.id):
        raise UploadNotFound(f"No upload session '{upload_id}' of yours exists (or it expired).")


async def start_upload(store: Store, principal: Principal, limits: PublishLimits) -> str:
    """Open an upload session, after dropping everyone's expired ones.

    Raises:
        UploadQuotaExceeded: the user already has ``max_sessions_per_user`` open.
    """
    contents_service.require_publisher(principal)
    cutoff = limits.sessions_started_after()
    async with store.write() as conn:
        purged = await uploads_store.purge_expired(conn, started_before=cutoff)
        if purged:
            log.info("action=upload_sessions_expired count=%d", purged)
        sessions, _ = await uploads_store.usage(conn, principal.user.id, started_after=cutoff)
        if sessions >= limits.max_sessions_per_user:
            raise UploadQuotaExceeded(
                f"You have {sessions} upload sessions open, the most allowed "
                f"(TABHOOKS_MAX_UPLOAD_SESSIONS_PER_USER); publish or let them expire "
                f"(TABHOOKS_UPLOAD_SESSION_TTL_HOURS)."
            )
        return await uploads_store.create(
            conn, site_id=principal.site.id, user_id=principal.user.id
        )


async def append_upload(
    store: Store, principal: Principal, upload_id: str, data: bytes, limits: PublishLimits
) -> int:
    """Add a chunk; returns the session's size.

    Raises:
        UploadNotFound: no such live session of the caller's.
        PayloadTooLarge: the session or all of the user's sessions would grow past their cap.
    """
    cutoff = limits.sessions_started_after()
    async with store.write() as conn:
        await _require_own_upload(conn, principal, upload_id, limits)
        if await uploads_store.size(conn, upload_id) + len(data) > limits.max_session_bytes:
            raise PayloadTooLarge(
                f"An upload session may hold at most {limits.max_session_bytes} bytes "
                "(TABHOOKS_MAX_UPLOAD_SESSION_BYTES)."
            )
        _, held = await uploads_store.usage(conn, principal.user.id, started_after=cutoff)
        if held + len(data) > limits.max_user_bytes:
            raise PayloadTooLarge(
                f"Your upload sessions may hold at most {limits.max_user_bytes} bytes together "
                "(TABHOOKS_MAX_UPLOAD_BYTES_PER_USER); publish or let some expire."
            )
        return await uploads_store.append(conn, upload_id, data)
