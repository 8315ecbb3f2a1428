"""Named statements over the ``sites`` table."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tabhooks.errors import SiteConflict
from tabhooks.models import Site
from tabhooks.store.tables import sites, utcnow


async def create(
    conn: AsyncConnection, *, name: str, content_url: str, admin_mode: str = "ContentAndUsers"
) -> Site:
    now = utcnow()
    row = {
        "id": str(uuid.uuid4()),
        "name": name,
        "content_url": content_url,
        "state": "Active",
        "admin_mode": admin_mode,
        "created_at": now,
        "updated_at": now,
    }
    try:
        async with conn.begin_nested():
            await conn.execute(insert(sites).values(row))
    except IntegrityError as exc:
        raise SiteConflict(
            f"A site named '{name}' or with contentUrl '{content_url}' already exists."
        ) from exc
    return Site.from_row(row)


async def get(conn: AsyncConnection, site_id: str) -> Site | None:
    row = (await conn.execute(select(sites).where(sites.c.id == site_id))).first()
    return Site.from_row(row) if row else None


async def get_by_content_url(conn: AsyncConnection, content_url: str) -> Site | None:
    # Tableau treats contentUrl case-insensitively (tabcmd lower-cases it).
    row = (
        await conn.execute(
            select(sites).where(func.lower(sites.c.content_url) == content_url.lower())
        )
    ).first()
    return Site.from_row(row) if row else None


async def get_by_name(conn: AsyncConnection, name: str) -> Site | None:
    row = (await conn.execute(select(sites).where(sites.c.name == name))).first()
    return Site.from_row(row) if row else None


async def count(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.count()).select_from(sites))).scalar_one())


async def page(conn: AsyncConnection, *, offset: int, limit: int) -> list[Site]:
    rows = await conn.execute(select(sites).order_by(sites.c.name).offset(offset).limit(limit))
    return [Site.from_row(r) for r in rows]


async def change(conn: AsyncConnection, site_id: str, **changes: str) -> Site | None:
    if changes:
        values: dict[str, object] = {**changes, "updated_at": utcnow()}
        try:
            async with conn.begin_nested():
                await conn.execute(update(sites).where(sites.c.id == site_id).values(values))
        except IntegrityError as exc:
            raise SiteConflict("Another site already has that name or contentUrl.") from exc
    return await get(conn, site_id)


async def remove(conn: AsyncConnection, site_id: str) -> bool:
    result = await conn.execute(delete(sites).where(sites.c.id == site_id))
    return result.rowcount > 0
