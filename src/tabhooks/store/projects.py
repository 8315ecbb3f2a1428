"""Named statements over ``projects``."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tabhooks.models import Project
from tabhooks.store import listing
from tabhooks.store import permissions as permissions_store
from tabhooks.store.listing import EQ, EQ_IN, RANGE, Field, Kind
from tabhooks.store.tables import projects, users, utcnow

DEFAULT_PROJECT_NAME = "Default"
DEFAULT_PROJECT_DESCRIPTION = "The default project that was automatically created by Tableau."


async def create(
    conn: AsyncConnection,
    *,
    site_id: str,
    name: str,
    description: str = "",
    parent_id: str | None = None,
    content_permissions: str = "ManagedByOwner",
    owner_id: str | None = None,
) -> Project:
    now = utcnow()
    row = {
        "id": str(uuid.uuid4()),
        "site_id": site_id,
        "name": name,
        "description": description,
        "parent_id": parent_id,
        "content_permissions": content_permissions,
        "owner_id": owner_id,
        "created_at": now,
        "updated_at": now,
    }
    await conn.execute(insert(projects).values(row))
    return Project.from_row(row)


async def ensure_default(conn: AsyncConnection, site_id: str, owner_id: str | None) -> Project:
    """Every site has a top-level project named Default (tabcmd and scripts look for it)."""
    row = (
        await conn.execute(
            select(projects).where(
                projects.c.site_id == site_id,
                projects.c.parent_id.is_(None),
                func.lower(projects.c.name) == DEFAULT_PROJECT_NAME.lower(),
            )
        )
    ).first()
    if row:
        return Project.from_row(row)
    project = await create(
        conn,
        site_id=site_id,
        name=DEFAULT_PROJECT_NAME,
        description=DEFAULT_PROJECT_DESCRIPTION,
        owner_id=owner_id,
    )
    # A new site: its All Users group, and Tableau's rules for it on the Default project.
    await permissions_store.seed_default_project(conn, site_id, project.id)
    return project


async def get(conn: AsyncConnection, site_id: str, project_id: str) -> Project | None:
    row = (
        await conn.execute(
            select(projects).where(projects.c.site_id == site_id, projects.c.id == project_id)
        )
    ).first()
    return Project.from_row(row) if row else None


async def find(
    conn: AsyncConnection, site_id: str, name: str, parent_id: str | None
) -> Project | None:
    parent = (
        projects.c.parent_id.is_(None) if parent_id is None else projects.c.parent_id == parent_id
    )
    row = (
        await conn.execute(
            select(projects).where(
                projects.c.site_id == site_id, func.lower(projects.c.name) == name.lower(), parent
            )
        )
    ).first()
    return Project.from_row(row) if row else None


async def page(
    conn: AsyncConnection,
    site_id: str,
    *,
    names: tuple[str, ...] | None,
    parent_id: str | None,
    offset: int,
    limit: int,
) -> tuple[list[Project], int]:
    query = select(projects).where(projects.c.site_id == site_id)
    if names is not None:
        query = query.where(func.lower(projects.c.name).in_([n.lower() for n in names]))
    if parent_id is not None:
        query = query.where(projects.c.parent_id == parent_id)
    total = (await conn.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    rows = await conn.execute(query.order_by(projects.c.name).offset(offset).limit(limit))
    return [Project.from_row(r) for r in rows], int(total)


async def change(conn: AsyncConnection, project_id: str, **values: object) -> None:
    if values:
        await conn.execute(
            update(projects)
            .where(projects.c.id == project_id)
            .values(**values, updated_at=utcnow())
        )


async def descendants(conn: AsyncConnection, site_id: str, project_id: str) -> list[str]:
    """The project and every project below it."""
    rows = (
        await conn.execute(
            select(projects.c.id, projects.c.parent_id).where(projects.c.site_id == site_id)
        )
    ).all()
    children: dict[str | None, list[str]] = {}
    for row in rows:
        children.setdefault(row.parent_id, []).append(row.id)
    out, todo = [], [project_id]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, []))
    return out


async def remove(conn: AsyncConnection, project_id: str) -> None:
    await conn.execute(delete(projects).where(projects.c.id == project_id))


#: Query Projects: Tableau's project fields. Names compare without case (as tabcmd relies on).
PROJECT_FIELDS: listing.Catalog = {
    "name": Field(Kind.TEXT, EQ_IN, projects.c.name, fold_case=True),
    "createdAt": Field(Kind.DATE, RANGE, projects.c.created_at),
    "updatedAt": Field(Kind.DATE, RANGE, projects.c.updated_at),
    "ownerName": Field(Kind.TEXT, EQ_IN, users.c.name, fold_case=True),
    "ownerEmail": Field(Kind.TEXT, EQ_IN, users.c.email, fold_case=True),
    "ownerDomain": Field(Kind.TEXT, EQ_IN, listing.constant("local"), fold_case=True),
    "parentProjectId": Field(Kind.TEXT, EQ_IN, projects.c.parent_id),
    "topLevelProject": Field(Kind.BOOL, EQ, projects.c.parent_id.is_(None)),
}


async def search(
    conn: AsyncConnection, site_id: str, query: listing.Listing
) -> tuple[list[Project], int]:
    """One page of the site's projects under Tableau's filters and sort (by name unless
    asked otherwise)."""
    statement = (
        select(projects)
        .outerjoin(users, users.c.id == projects.c.owner_id)
        .where(projects.c.site_id == site_id)
    )
    rows, total = await listing.page(
        conn,
        statement,
        PROJECT_FIELDS,
        query,
        default=(listing.Order("name"),),
        tiebreak=projects.c.id,
    )
    return [Project.from_row(r) for r in rows], total
