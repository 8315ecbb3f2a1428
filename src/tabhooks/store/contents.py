"""Named statements over published content: ``contents``, their files, views and connections."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tabhooks.models import Connection, Content, ContentKind, View
from tabhooks.store.tables import (
    connections,
    content_files,
    contents,
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
    row = (
        await conn.execute(
            _with_names().where(
                contents.c.site_id == site_id,
                contents.c.kind == kind.value,
                contents.c.id == content_id,
            )
        )
    ).first()
    return Content.from_row(row) if row else None


async def get_any(conn: AsyncConnection, site_id: str, content_id: str) -> Content | None:
    row = (
        await conn.execute(
            _with_names().where(contents.c.site_id == site_id, contents.c.id == content_id)
        )
    ).first()
    return Content.from_row(row) if row else None


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
    statement = _with_names().where(contents.c.site_id == site_id, contents.c.kind == kind.value)
    if query.names is not None:
        statement = statement.where(contents.c.name.in_(query.names))
    if query.project_names is not None:
        statement = statement.where(
            func.lower(projects.c.name).in_([n.lower() for n in query.project_names])
        )
    if query.owner_names is not None:
        statement = statement.where(
            func.lower(users.c.name).in_([n.lower() for n in query.owner_names])
        )
    if query.project_ids is not None:
        statement = statement.where(contents.c.project_id.in_(query.project_ids))
    statement = statement.where(*query.extra)
    total = (
        await conn.execute(select(func.count()).select_from(statement.subquery()))
    ).scalar_one()
    column = _SORTABLE.get(query.sort, contents.c.name)
    order = column.desc() if query.descending else column.asc()
    rows = await conn.execute(
        statement.order_by(order, contents.c.id).offset(query.offset).limit(query.limit)
    )
    return [Content.from_row(r) for r in rows], int(total)


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


async def views_of(conn: AsyncConnection, workbook_id: str) -> list[View]:
    rows = await conn.execute(
        select(views)
        .where(views.c.workbook_id == workbook_id)
        .order_by(views.c.position, views.c.created_at, views.c.name)
    )
    return [View.from_row(r) for r in rows]


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


async def site_views(
    conn: AsyncConnection, site_id: str, *, names: tuple[str, ...] | None, offset: int, limit: int
) -> tuple[list[View], int]:
    query = select(views).where(views.c.site_id == site_id)
    if names is not None:
        query = query.where(views.c.name.in_(names))
    total = (await conn.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    rows = await conn.execute(query.order_by(views.c.name, views.c.id).offset(offset).limit(limit))
    return [View.from_row(r) for r in rows], int(total)


async def get_view(conn: AsyncConnection, site_id: str, view_id: str) -> View | None:
    row = (
        await conn.execute(select(views).where(views.c.site_id == site_id, views.c.id == view_id))
    ).first()
    return View.from_row(row) if row else None


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
