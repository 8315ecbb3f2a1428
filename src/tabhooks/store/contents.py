"""Named statements over published content: ``contents``, their files, views and connections."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    not_,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from tabhooks.models import Connection, Content, ContentKind, View
from tabhooks.store import listing
from tabhooks.store import tags as tags_store
from tabhooks.store.listing import EQ, EQ_IN, RANGE, Field, Kind, Listing, Order
from tabhooks.store.tables import (
    connections,
    content_files,
    contents,
    favorites,
    projects,
    users,
    utcnow,
    views,
)
from tabhooks.tableau_files import FoundConnection, FoundView


def _with_names() -> Select[tuple[object, ...]]:
    return (
        select(contents, projects.c.name.label("project_name"), users.c.name.label("owner_name"))
        .join(projects, projects.c.id == contents.c.project_id)
        .outerjoin(users, users.c.id == contents.c.owner_id)
    )


def slug(name: str) -> str:
    """Tableau-style contentUrl stem: the name without spaces or punctuation."""
    return re.sub(r"[^A-Za-z0-9_-]", "", name) or "content"


async def free_content_url(
    conn: AsyncConnection, site_id: str, kind: ContentKind, name: str
) -> str:
    stem = slug(name)
    taken = set(
        (
            await conn.execute(
                select(contents.c.content_url).where(
                    contents.c.site_id == site_id,
                    contents.c.kind == kind.value,
                    contents.c.content_url.like(f"{stem}%"),
                )
            )
        ).scalars()
    )
    if stem not in taken:
        return stem
    number = 0
    while f"{stem}_{number}" in taken:
        number += 1
    return f"{stem}_{number}"


@dataclass(frozen=True, slots=True)
class NewContent:
    """Everything needed to store a freshly published file."""

    site_id: str
    kind: ContentKind
    name: str
    project_id: str
    owner_id: str
    description: str
    show_tabs: bool
    type: str
    file_name: str
    file_type: str
    data: bytes
    has_extracts: bool


async def create(conn: AsyncConnection, new: NewContent) -> str:
    now = utcnow()
    content_id = str(uuid.uuid4())
    await conn.execute(
        insert(contents).values(
            id=content_id,
            site_id=new.site_id,
            kind=new.kind.value,
            name=new.name,
            content_url=await free_content_url(conn, new.site_id, new.kind, new.name),
            description=new.description,
            project_id=new.project_id,
            owner_id=new.owner_id,
            show_tabs=new.show_tabs,
            type=new.type,
            file_name=new.file_name,
            file_type=new.file_type,
            size=len(new.data),
            has_extracts=new.has_extracts,
            created_at=now,
            updated_at=now,
        )
    )
    await conn.execute(insert(content_files).values(content_id=content_id, data=new.data))
    return content_id


async def replace_file(conn: AsyncConnection, content_id: str, new: NewContent) -> None:
    """Overwrite: new bytes and properties, same id and contentUrl."""
    await conn.execute(
        update(contents)
        .where(contents.c.id == content_id)
        .values(
            description=new.description or contents.c.description,
            show_tabs=new.show_tabs,
            type=new.type,
            file_name=new.file_name,
            file_type=new.file_type,
            size=len(new.data),
            has_extracts=new.has_extracts,
            updated_at=utcnow(),
        )
    )
    await conn.execute(
        update(content_files).where(content_files.c.content_id == content_id).values(data=new.data)
    )


async def get(
    conn: AsyncConnection, site_id: str, kind: ContentKind, content_id: str
) -> Content | None:
    """The content, with its tags (every answer that shows it lists them)."""
    row = (
        await conn.execute(
            _with_names().where(
                contents.c.site_id == site_id,
                contents.c.kind == kind.value,
                contents.c.id == content_id,
            )
        )
    ).first()
    return (await with_tags(conn, [Content.from_row(row)]))[0] if row else None


async def get_any(conn: AsyncConnection, site_id: str, content_id: str) -> Content | None:
    row = (
        await conn.execute(
            _with_names().where(contents.c.site_id == site_id, contents.c.id == content_id)
        )
    ).first()
    return (await with_tags(conn, [Content.from_row(row)]))[0] if row else None


async def find_in_project(
    conn: AsyncConnection, site_id: str, kind: ContentKind, project_id: str, name: str
) -> Content | None:
    row = (
        await conn.execute(
            _with_names().where(
                contents.c.site_id == site_id,
                contents.c.kind == kind.value,
                contents.c.project_id == project_id,
                contents.c.name == name,
            )
        )
    ).first()
    return Content.from_row(row) if row else None


# ----------------------------------------------------------------------------- listings

_MIB = 1024 * 1024
#: ``size`` as Tableau reports it (and tabhooks renders it): whole megabytes, at least 1.
_SIZE_MB = case(
    (contents.c.size == 0, 0), (contents.c.size < _MIB, 1), else_=contents.c.size / _MIB
)
_FAVORITES_TOTAL = (
    select(func.count(favorites.c.id))
    .where(favorites.c.content_id == contents.c.id)
    .correlate(contents)
    .scalar_subquery()
)
_SHEET_COUNT = (
    select(func.count(views.c.id))
    .where(views.c.workbook_id == contents.c.id)
    .correlate(contents)
    .scalar_subquery()
)


def _connection_has(column: ColumnElement[Any], *, fold_case: bool = False) -> listing.Test:
    """A data source filter on its connections: some connection matches."""

    def test(operator: str, values: tuple[Any, ...]) -> ColumnElement[bool]:
        left = func.lower(column) if fold_case else column
        wanted = [str(v).lower() for v in values] if fold_case else list(values)
        return exists(
            select(connections.c.id).where(
                connections.c.content_id == contents.c.id, left.in_(wanted)
            )
        )

    return test


def _embedded_password(operator: str, values: tuple[Any, ...]) -> ColumnElement[bool]:
    """``hasEmbeddedPassword``: some connection of the data source embeds its password."""
    embeds = exists(
        select(connections.c.id).where(
            connections.c.content_id == contents.c.id, connections.c.embed_password.is_(True)
        )
    )
    return embeds if values[0] else not_(embeds)


#: Fields every content kind shares, as Tableau names them.
_COMMON: dict[str, Field] = {
    "name": Field(Kind.TEXT, EQ_IN, contents.c.name),
    "createdAt": Field(Kind.DATE, RANGE, contents.c.created_at),
    "updatedAt": Field(Kind.DATE, RANGE, contents.c.updated_at),
    "projectName": Field(Kind.TEXT, EQ_IN, projects.c.name, fold_case=True),
}
_OWNED: dict[str, Field] = {
    "contentUrl": Field(Kind.TEXT, EQ_IN, contents.c.content_url),
    "ownerName": Field(Kind.TEXT, EQ_IN, users.c.name, fold_case=True),
    "ownerEmail": Field(Kind.TEXT, EQ_IN, users.c.email, fold_case=True),
    # Every tabhooks user is a local user (no Active Directory domains).
    "ownerDomain": Field(Kind.TEXT, EQ_IN, listing.constant("local"), fold_case=True),
    "favoritesTotal": Field(Kind.NUMBER, RANGE, _FAVORITES_TOTAL),
    "hasExtracts": Field(Kind.BOOL, EQ, contents.c.has_extracts),
    "size": Field(Kind.NUMBER, RANGE, _SIZE_MB),
    "tags": Field(Kind.TAGS, EQ_IN, sortable=False, test=tags_store.content_tagged),
}

#: Query Workbooks for Site: Tableau's workbook fields that tabhooks can answer.
WORKBOOK_FIELDS: listing.Catalog = {
    **_COMMON,
    **_OWNED,
    "displayTabs": Field(Kind.BOOL, EQ, contents.c.show_tabs),
    "sheetCount": Field(Kind.NUMBER, RANGE, _SHEET_COUNT),
    # tabhooks has no data-driven alerts and no subscriptions: none has any.
    "hasAlerts": Field(Kind.BOOL, EQ, listing.constant(False)),
    "subscriptionsTotal": Field(Kind.NUMBER, RANGE, listing.constant(0)),
}

#: Query Data Sources: Tableau's data source fields that tabhooks can answer.
DATASOURCE_FIELDS: listing.Catalog = {
    **_COMMON,
    **_OWNED,
    "ownerEmail": Field(Kind.TEXT, EQ, users.c.email, fold_case=True),
    "description": Field(Kind.TEXT, EQ_IN, contents.c.description),
    "type": Field(Kind.TEXT, EQ, contents.c.type, fold_case=True),
    "isCertified": Field(Kind.BOOL, EQ, contents.c.is_certified),
    # Every data source tabhooks lists is a published one; none has data-driven alerts.
    "isPublished": Field(Kind.BOOL, EQ, listing.constant(True)),
    "hasAlert": Field(Kind.BOOL, EQ, listing.constant(False)),
    "connectionType": Field(
        Kind.TEXT, EQ_IN, sortable=False, test=_connection_has(connections.c.type, fold_case=True)
    ),
    "serverName": Field(
        Kind.TEXT,
        EQ_IN,
        sortable=False,
        test=_connection_has(connections.c.server_address, fold_case=True),
    ),
    "serverPort": Field(
        Kind.TEXT, EQ, sortable=False, test=_connection_has(connections.c.server_port)
    ),
    "databaseName": Field(
        Kind.TEXT, EQ_IN, sortable=False, test=_connection_has(connections.c.dbname)
    ),
    "databaseUserName": Field(
        Kind.TEXT, EQ_IN, sortable=False, test=_connection_has(connections.c.username)
    ),
    "hasEmbeddedPassword": Field(Kind.BOOL, EQ, sortable=False, test=_embedded_password),
}

#: Query Flows for Site: the (shorter) list Tableau documents for flows.
FLOW_FIELDS: listing.Catalog = {
    **_COMMON,
    "ownerName": Field(Kind.TEXT, EQ, users.c.name, fold_case=True),
    "projectId": Field(Kind.TEXT, EQ, contents.c.project_id),
}

CATALOGS: dict[ContentKind, listing.Catalog] = {
    ContentKind.WORKBOOK: WORKBOOK_FIELDS,
    ContentKind.DATASOURCE: DATASOURCE_FIELDS,
    ContentKind.FLOW: FLOW_FIELDS,
}
_BY_NAME = (Order("name"),)


async def with_tags(conn: AsyncConnection, found: list[Content]) -> list[Content]:
    """``found`` with each item's tags."""
    labels = await tags_store.labels_of(conn, [c.id for c in found])
    return [replace(c, tags=labels.get(c.id, ())) for c in found]


async def search(
    conn: AsyncConnection, site_id: str, kind: ContentKind, query: Listing
) -> tuple[list[Content], int]:
    """One page of the site's content of ``kind`` under Tableau's filters and sort."""
    statement = _with_names().where(contents.c.site_id == site_id, contents.c.kind == kind.value)
    rows, total = await listing.page(
        conn, statement, CATALOGS[kind], query, default=_BY_NAME, tiebreak=contents.c.id
    )
    return await with_tags(conn, [Content.from_row(r) for r in rows]), total


@dataclass(frozen=True, slots=True)
class ListQuery:
    """Filters, sort and page of a content listing."""

    names: tuple[str, ...] | None = None
    project_names: tuple[str, ...] | None = None
    owner_names: tuple[str, ...] | None = None
    project_ids: tuple[str, ...] | None = None
    sort: str = "name"
    descending: bool = False
    offset: int = 0
    limit: int = 100
    #: Further conditions (what the caller may not Read is kept out: services.permissions).
    extra: tuple[ColumnElement[bool], ...] = ()


_SORTABLE = {
    "name": contents.c.name,
    "createdAt": contents.c.created_at,
    "updatedAt": contents.c.updated_at,
}


async def page(
    conn: AsyncConnection, site_id: str, kind: ContentKind, query: ListQuery
) -> tuple[list[Content], int]:
    """:func:`search` with the dashboard's simpler query (names, projects, owners, one key)."""
    filters = tuple(
        listing.Filter(name, "in", values)
        for name, values in (
            ("name", query.names),
            ("projectName", query.project_names),
            ("ownerName", query.owner_names),
        )
        if values is not None
    )
    extra: tuple[ColumnElement[bool], ...] = query.extra
    if query.project_ids is not None:
        extra = (*extra, contents.c.project_id.in_(query.project_ids))
    order = query.sort if query.sort in _SORTABLE else "name"
    listed = Listing(
        filters=filters,
        order=(Order(order, query.descending),),
        offset=query.offset,
        limit=query.limit,
        extra=extra,
    )
    return await search(conn, site_id, kind, listed)


async def ids_in_projects(conn: AsyncConnection, project_ids: Sequence[str]) -> list[Content]:
    rows = await conn.execute(_with_names().where(contents.c.project_id.in_(project_ids)))
    return [Content.from_row(r) for r in rows]


async def change(conn: AsyncConnection, content_id: str, **values: object) -> None:
    if values:
        await conn.execute(
            update(contents)
            .where(contents.c.id == content_id)
            .values(**values, updated_at=utcnow())
        )


async def touch(conn: AsyncConnection, content_id: str) -> None:
    await conn.execute(
        update(contents).where(contents.c.id == content_id).values(updated_at=utcnow())
    )


async def remove(conn: AsyncConnection, content_id: str) -> None:
    await conn.execute(delete(contents).where(contents.c.id == content_id))


async def file_of(conn: AsyncConnection, content_id: str) -> bytes | None:
    return (
        await conn.execute(
            select(content_files.c.data).where(content_files.c.content_id == content_id)
        )
    ).scalar_one_or_none()


# ----------------------------------------------------------------------------- views


def _views_with_parents() -> Select[tuple[object, ...]]:
    """Views with their workbook's owner and project (Tableau lists both on every view)."""
    return (
        select(views, contents.c.owner_id, contents.c.project_id)
        .join(contents, contents.c.id == views.c.workbook_id)
        .join(projects, projects.c.id == contents.c.project_id)
        .outerjoin(users, users.c.id == contents.c.owner_id)
    )


async def with_view_tags(conn: AsyncConnection, found: list[View]) -> list[View]:
    labels = await tags_store.labels_of(conn, [v.id for v in found], view=True)
    return [replace(v, tags=labels.get(v.id, ())) for v in found]


async def views_of(conn: AsyncConnection, workbook_id: str) -> list[View]:
    rows = await conn.execute(
        _views_with_parents()
        .where(views.c.workbook_id == workbook_id)
        .order_by(views.c.position, views.c.created_at, views.c.name)
    )
    return await with_view_tags(conn, [View.from_row(r) for r in rows])


async def sync_views(
    conn: AsyncConnection,
    site_id: str,
    workbook_id: str,
    workbook_url: str,
    found: Sequence[FoundView],
) -> list[View]:
    """Make the workbook's views match the file; returns the views that were removed."""
    existing = {v.name: v for v in await views_of(conn, workbook_id)}
    wanted = {v.name: v for v in found}
    removed = [v for name, v in existing.items() if name not in wanted]
    if removed:
        await conn.execute(delete(views).where(views.c.id.in_([v.id for v in removed])))
    now = utcnow()
    positions = {name: index for index, name in enumerate(wanted)}
    new_rows = [
        {
            "id": str(uuid.uuid4()),
            "site_id": site_id,
            "workbook_id": workbook_id,
            "name": view.name,
            "content_url": f"{workbook_url}/sheets/{slug(view.name)}",
            "sheet_type": view.sheet_type,
            "position": positions[name],
            "created_at": now,
            "updated_at": now,
        }
        for name, view in wanted.items()
        if name not in existing
    ]
    if new_rows:
        await conn.execute(insert(views), new_rows)
    # A republished file may reorder the sheets that stayed.
    kept = [
        {"b_id": view.id, "b_position": positions[name]}
        for name, view in existing.items()
        if name in wanted
    ]
    if kept:
        await conn.execute(
            update(views)
            .where(views.c.id == bindparam("b_id"))
            .values(position=bindparam("b_position")),
            kept,
        )
    return removed


def _view_url_name(operator: str, values: tuple[Any, ...]) -> ColumnElement[bool]:
    """``viewUrlName``: the last segment of the view's content URL (``.../sheets/<name>``)."""
    return or_(
        *(
            views.c.content_url.like(f"%/sheets/{listing.escape_like(str(v))}", escape="\\")
            for v in values
        )
    )


_VIEW_FAVORITES = (
    select(func.count(favorites.c.id))
    .where(favorites.c.view_id == views.c.id)
    .correlate(views)
    .scalar_subquery()
)

#: Query Views for Site: Tableau's view fields that tabhooks can answer.
VIEW_FIELDS: listing.Catalog = {
    "name": Field(Kind.TEXT, EQ_IN, views.c.name),
    "contentUrl": Field(Kind.TEXT, EQ_IN, views.c.content_url),
    "createdAt": Field(Kind.DATE, RANGE, views.c.created_at),
    "updatedAt": Field(Kind.DATE, RANGE, views.c.updated_at),
    "sheetType": Field(Kind.TEXT, EQ_IN, views.c.sheet_type, fold_case=True),
    "sheetNumber": Field(Kind.NUMBER, RANGE, views.c.position + 1),
    "viewUrlName": Field(Kind.TEXT, EQ_IN, sortable=False, test=_view_url_name),
    "workbookName": Field(Kind.TEXT, EQ_IN, contents.c.name),
    "workbookDescription": Field(Kind.TEXT, EQ_IN, contents.c.description),
    "projectName": Field(Kind.TEXT, EQ_IN, projects.c.name, fold_case=True),
    "ownerName": Field(Kind.TEXT, EQ_IN, users.c.name, fold_case=True),
    "ownerEmail": Field(Kind.TEXT, EQ_IN, users.c.email, fold_case=True),
    "ownerDomain": Field(Kind.TEXT, EQ_IN, listing.constant("local"), fold_case=True),
    "favoritesTotal": Field(Kind.NUMBER, RANGE, _VIEW_FAVORITES),
    # tabhooks renders nothing, so no view was ever seen.
    "hitsTotal": Field(Kind.NUMBER, RANGE, listing.constant(0)),
    "tags": Field(Kind.TAGS, EQ_IN, sortable=False, test=tags_store.view_tagged),
}


async def search_views(
    conn: AsyncConnection, site_id: str, query: Listing
) -> tuple[list[View], int]:
    """One page of the site's views under Tableau's filters and sort."""
    statement = _views_with_parents().where(views.c.site_id == site_id)
    rows, total = await listing.page(
        conn, statement, VIEW_FIELDS, query, default=_BY_NAME, tiebreak=views.c.id
    )
    return await with_view_tags(conn, [View.from_row(r) for r in rows]), total


async def get_view(conn: AsyncConnection, site_id: str, view_id: str) -> View | None:
    row = (
        await conn.execute(
            _views_with_parents().where(views.c.site_id == site_id, views.c.id == view_id)
        )
    ).first()
    return (await with_view_tags(conn, [View.from_row(row)]))[0] if row else None


# ----------------------------------------------------------------------------- connections


async def connections_of(conn: AsyncConnection, content_id: str) -> list[Connection]:
    rows = await conn.execute(
        select(connections).where(connections.c.content_id == content_id).order_by(connections.c.id)
    )
    return [Connection.from_row(r) for r in rows]


async def set_connections(
    conn: AsyncConnection,
    content_id: str,
    found: Sequence[FoundConnection],
    *,
    username: str | None,
    password: str | None,
    embed: bool,
) -> None:
    """Replace the content's connections with those of the file, credentials applied."""
    await conn.execute(delete(connections).where(connections.c.content_id == content_id))
    rows = [
        {
            "id": str(uuid.uuid4()),
            "content_id": content_id,
            "type": c.type,
            "server_address": c.server_address,
            "server_port": c.server_port,
            "dbname": c.dbname,
            "filename": c.filename,
            "username": username if username is not None else c.username,
            "password": password or "",
            "embed_password": embed and bool(password),
            "query_tagging": False,
        }
        for c in found
    ]
    if rows:
        await conn.execute(insert(connections), rows)


async def get_connection(
    conn: AsyncConnection, content_id: str, connection_id: str
) -> Connection | None:
    row = (
        await conn.execute(
            select(connections).where(
                connections.c.content_id == content_id, connections.c.id == connection_id
            )
        )
    ).first()
    return Connection.from_row(row) if row else None


async def change_connection(conn: AsyncConnection, connection_id: str, **values: object) -> None:
    if values:
        await conn.execute(
            update(connections).where(connections.c.id == connection_id).values(**values)
        )
