"""Workbook, data source and flow use cases after publishing: get, list, update, delete,
download, connections and views — each change firing its event in the same transaction.

Who may do what is :mod:`tabhooks.services.permissions`' one question, asked here with the
capability each method needs (Tableau's REST reference) and the 403 code it answers with when
the caller may see the item but not do that to it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy.ext.asyncio import AsyncConnection

from tabhooks.errors import (
    BadRequest,
    CapabilityForbidden,
    Conflict,
    ConnectionNotFound,
    DatasourceNotFound,
    FlowNotFound,
    Forbidden,
    ProjectNotFound,
    UserNotFound,
    ViewNotFound,
    WorkbookNotFound,
)
from tabhooks.models import Connection, Content, ContentKind, View
from tabhooks.services import permissions
from tabhooks.services.emit import emit
from tabhooks.services.principal import Principal
from tabhooks.store import Store
from tabhooks.store import contents as contents_store
from tabhooks.store import projects as projects_store
from tabhooks.store import users as users_store
from tabhooks.store.listing import Listing

_NOT_FOUND = {
    ContentKind.WORKBOOK: WorkbookNotFound,
    ContentKind.DATASOURCE: DatasourceNotFound,
    ContentKind.FLOW: FlowNotFound,
}
#: The event fired when content of each kind changes or goes away.
UPDATED_EVENT = {
    ContentKind.WORKBOOK: "WorkbookUpdated",
    ContentKind.DATASOURCE: "DatasourceUpdated",
}
DELETED_EVENT = {
    ContentKind.WORKBOOK: "WorkbookDeleted",
    ContentKind.DATASOURCE: "DatasourceDeleted",
}
CREATED_EVENT = {
    ContentKind.WORKBOOK: "WorkbookCreated",
    ContentKind.DATASOURCE: "DatasourceCreated",
}

#: Tableau's 403 code for each method refused for a missing capability (its REST reference's
#: error tables; 403004 where it documents none for that kind).
UPDATE_CODE = {ContentKind.WORKBOOK: "403027", ContentKind.DATASOURCE: "403032"}
OWNER_CODE = {ContentKind.WORKBOOK: "403027", ContentKind.DATASOURCE: "403027",
              ContentKind.FLOW: "403098"}  # fmt: skip
PROJECT_CODE = {ContentKind.WORKBOOK: "403025"}  # data sources and flows: 403030
DOWNLOAD_CODE = {ContentKind.WORKBOOK: "403019", ContentKind.DATASOURCE: "403028"}
CONNECTION_CODE = {ContentKind.WORKBOOK: "403029", ContentKind.DATASOURCE: "403023"}


def not_found(kind: ContentKind, content_id: str) -> Exception:
    return _NOT_FOUND[kind](f"No {kind.value} with id '{content_id}' exists on this site.")


async def require(
    conn: AsyncConnection, site_id: str, kind: ContentKind, content_id: str
) -> Content:
    content = await contents_store.get(conn, site_id, kind, content_id)
    if content is None:
        raise not_found(kind, content_id)
    return content


async def get(
    store: Store, principal: Principal, kind: ContentKind, content_id: str
) -> tuple[Content, list[View]]:
    async with store.read() as conn:
        content = await require(conn, principal.site.id, kind, content_id)
        acc = await permissions.require_readable(conn, principal, content)  # else its 404
        views = (
            await contents_store.views_of(conn, content_id) if kind is ContentKind.WORKBOOK else []
        )
        views = await permissions.readable_views(conn, acc, content, views)
    return content, views


async def listing(
    store: Store, principal: Principal, kind: ContentKind, query: contents_store.ListQuery
) -> tuple[list[Content], int]:
    async with store.read() as conn:
        hidden = await permissions.content_condition(conn, principal, kind)  # what it can't Read
        query = replace(query, extra=(*query.extra, *hidden))
        return await contents_store.page(conn, principal.site.id, kind, query)


async def search(
    store: Store, principal: Principal, kind: ContentKind, query: Listing
) -> tuple[list[Content], int]:
    """Query Workbooks / Data Sources / Flows: Tableau's filters, sort and page."""
    async with store.read() as conn:
        hidden = await permissions.content_condition(conn, principal, kind)  # what it can't Read
        query = replace(query, extra=(*query.extra, *hidden))
        return await contents_store.search(conn, principal.site.id, kind, query)


async def search_views(
    store: Store, principal: Principal, query: Listing
) -> tuple[list[View], int]:
    """Query Views for Site: Tableau's filters, sort and page."""
    async with store.read() as conn:
        hidden = await permissions.view_condition(conn, principal)  # views it cannot Read
        query = replace(query, extra=(*query.extra, *hidden))
        return await contents_store.search_views(conn, principal.site.id, query)


def require_publisher(principal: Principal) -> None:
    if principal.user.site_role.value in ("Viewer", "Explorer", "ReadOnly", "Unlicensed"):
        raise Forbidden(f"Site role {principal.user.site_role} cannot publish or change content.")


def require_owner_or_admin(principal: Principal, content: Content) -> None:
    """Changing content (or its data quality warnings) is for its owner or an administrator."""
    require_publisher(principal)
    if not principal.user.is_site_admin and content.owner_id != principal.user.id:
        raise Forbidden(f"Only the owner or an administrator can change '{content.name}'.")


async def require_write(
    conn: AsyncConnection, principal: Principal, content: Content, doing: str = "change"
) -> permissions.Access:
    """Write on the content (after Read, else its 404): what changing it, its connections,
    tags and data quality warnings need; 403004 when refused."""
    return await permissions.require(conn, principal, content, permissions.WRITE, doing=doing)


@dataclass(frozen=True, slots=True)
class ContentChanges:
    """An Update Workbook / Update Data Source request; ``None`` means unchanged."""

    name: str | None = None
    description: str | None = None
    show_tabs: bool | None = None
    project_id: str | None = None
    owner_id: str | None = None
    #: Data sources: certify (or not), with a note. Administrators and project leaders.
    is_certified: bool | None = None
    certification_note: str | None = None


def _certification(
    acc: permissions.Access, content: Content, changes: ContentChanges
) -> dict[str, object]:
    """The certification columns an update changes; certifying is for administrators and
    the leaders (and owner) of the data source's project, as in Tableau — not for the data
    source's owner alone."""
    values: dict[str, object] = {}
    certified = content.is_certified
    if changes.is_certified is not None and changes.is_certified != certified:
        certified = values["is_certified"] = changes.is_certified
    # A note describes a certification: uncertifying drops it, whatever else was sent.
    note = (changes.certification_note or None) if certified else None
    if changes.certification_note is None and certified:
        note = content.certification_note
    if note != content.certification_note:
        values["certification_note"] = note
    if values and not permissions.may_manage(acc, content):
        raise Forbidden(
            f"Only an administrator or a leader of its project can certify '{content.name}' "
            "or change its certification."
        )
    return values


async def update(
    store: Store, principal: Principal, kind: ContentKind, content_id: str, changes: ContentChanges
) -> Content:
    site_id = principal.site.id
    async with store.write() as conn:
        content = await require(conn, site_id, kind, content_id)
        acc = await permissions.require(
            conn, principal, content, permissions.WRITE,
            code=UPDATE_CODE.get(kind, "403004"), doing="update",
        )  # fmt: skip
        values: dict[str, object] = {}
        if changes.name is not None:
            if not changes.name.strip():
                raise BadRequest("The name must not be empty.")
            values["name"] = changes.name
        if changes.description is not None:
            values["description"] = changes.description
        if changes.show_tabs is not None:
            values["show_tabs"] = changes.show_tabs
        if changes.project_id is not None and changes.project_id != content.project_id:
            await _check_target_project(conn, acc, content, changes.project_id)
            values["project_id"] = changes.project_id
        if changes.owner_id is not None and changes.owner_id != content.owner_id:
            if not permissions.may_manage(acc, content):
                raise CapabilityForbidden(
                    f"Only an administrator or a leader of its project can give "
                    f"'{content.name}' another owner.",
                    OWNER_CODE[kind],
                )
            if await users_store.get_on_site(conn, site_id, changes.owner_id) is None:
                raise UserNotFound(
                    f"No user with id '{changes.owner_id}' is a member of this site."
                )
            values["owner_id"] = changes.owner_id
        values.update(_certification(acc, content, changes))
        target_project = values.get("project_id", content.project_id)
        target_name = values.get("name", content.name)
        clash = await contents_store.find_in_project(
            conn, site_id, kind, str(target_project), str(target_name)
        )
        if clash is not None and clash.id != content_id:
            raise Conflict(f"A {kind.value} named '{target_name}' already exists in that project.")
        await contents_store.change(conn, content_id, **values)
        updated = await require(conn, site_id, kind, content_id)
        if kind in UPDATED_EVENT:
            await emit(
                conn,
                UPDATED_EVENT[kind],
                site_id=site_id,
                resource_luid=content_id,
                resource_name=updated.name,
            )
    return updated


async def _check_target_project(
    conn: AsyncConnection, acc: permissions.Access, content: Content, project_id: str
) -> None:
    """Moving content needs the target project to be seen (else 404005) and Write on it."""
    if await projects_store.get(conn, content.site_id, project_id) is None or not acc.on_project(
        project_id, permissions.READ
    ):
        raise ProjectNotFound(f"No project with id '{project_id}' exists on this site.")
    if not permissions.may_publish_into(acc, project_id):
        raise CapabilityForbidden(
            f"User '{acc.principal.user.name}' may not move '{content.name}' into that "
            "project: that needs Write on the project (its leaders and administrators have it).",
            PROJECT_CODE.get(content.kind, "403030"),
        )


async def remove_with_events(conn: AsyncConnection, content: Content) -> None:
    """Delete content inside an open transaction, firing ViewDeleted per view and *Deleted."""
    if content.kind is ContentKind.WORKBOOK:
        for view in await contents_store.views_of(conn, content.id):
            await emit(
                conn,
                "ViewDeleted",
                site_id=content.site_id,
                resource_luid=view.id,
                resource_name=view.name,
            )
    await contents_store.remove(conn, content.id)
    if content.kind in DELETED_EVENT:
        await emit(
            conn,
            DELETED_EVENT[content.kind],
            site_id=content.site_id,
            resource_luid=content.id,
            resource_name=content.name,
        )


async def delete(store: Store, principal: Principal, kind: ContentKind, content_id: str) -> None:
    async with store.write() as conn:
        content = await require(conn, principal.site.id, kind, content_id)
        await permissions.require(conn, principal, content, permissions.DELETE, doing="delete")
        await remove_with_events(conn, content)


async def download(
    store: Store, principal: Principal, kind: ContentKind, content_id: str
) -> tuple[Content, bytes]:
    async with store.read() as conn:
        content = await require(conn, principal.site.id, kind, content_id)
        await permissions.require(
            conn, principal, content, permissions.EXPORT_XML,
            code=DOWNLOAD_CODE.get(kind, "403004"), doing="download",
        )  # fmt: skip
        data = await contents_store.file_of(conn, content_id)
    return content, data or b""


async def connections(
    store: Store, principal: Principal, kind: ContentKind, content_id: str
) -> tuple[Content, list[Connection]]:
    async with store.read() as conn:
        content = await require(conn, principal.site.id, kind, content_id)
        await permissions.require_readable(conn, principal, content)
        return content, await contents_store.connections_of(conn, content_id)


@dataclass(frozen=True, slots=True)
class ConnectionChanges:
    """An Update Connection request; ``None`` means unchanged."""

    server_address: str | None = None
    server_port: str | None = None
    username: str | None = None
    password: str | None = None
    embed_password: bool | None = None
    query_tagging: bool | None = None


async def update_connection(
    store: Store,
    principal: Principal,
    kind: ContentKind,
    content_id: str,
    connection_id: str,
    changes: ConnectionChanges,
) -> tuple[Content, Connection]:
    """Change a connection (e.g. break its password to make the next refresh fail)."""
    site_id = principal.site.id
    async with store.write() as conn:
        content = await require(conn, site_id, kind, content_id)
        await permissions.require(
            conn, principal, content, permissions.WRITE,
            code=CONNECTION_CODE.get(kind, "403004"), doing="change the connections of",
        )  # fmt: skip
        if await contents_store.get_connection(conn, content_id, connection_id) is None:
            raise ConnectionNotFound(f"No connection '{connection_id}' on this {kind.value}.")
        values = {
            "server_address": changes.server_address,
            "server_port": changes.server_port,
            "username": changes.username,
            "password": changes.password,
            "embed_password": changes.embed_password,
            "query_tagging": changes.query_tagging,
        }
        await contents_store.change_connection(
            conn, connection_id, **{k: v for k, v in values.items() if v is not None}
        )
        await contents_store.touch(conn, content_id)
        if kind in UPDATED_EVENT:
            await emit(
                conn,
                UPDATED_EVENT[kind],
                site_id=site_id,
                resource_luid=content_id,
                resource_name=content.name,
            )
        updated = await contents_store.get_connection(conn, content_id, connection_id)
    assert updated is not None
    return content, updated


async def view(store: Store, principal: Principal, view_id: str) -> View:
    async with store.read() as conn:
        found = await contents_store.get_view(conn, principal.site.id, view_id)
        if found is not None:
            await permissions.require_readable_view(conn, principal, found)
    if found is None:
        raise ViewNotFound(f"No view with id '{view_id}' exists on this site.")
    return found
