"""Named statements over ``favorites``: what each user marked on each site.

A row names one item through exactly one of ``content_id`` (workbook, data source, flow),
``view_id`` and ``project_id``; the foreign keys delete it with the item, and with the user's
membership of the site.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tabhooks.errors import Conflict
from tabhooks.store.tables import favorites, utcnow

#: The columns that can name a favorite's item.
TARGETS = ("content_id", "view_id", "project_id")


@dataclass(frozen=True, slots=True)
class Favorite:
    """One favorite: its label and the item it names (``column`` is one of :data:`TARGETS`)."""

    label: str
    column: str
    item_id: str

    @classmethod
    def from_row(cls, row: Any) -> Favorite:
        column = next(c for c in TARGETS if getattr(row, c) is not None)
        return cls(row.label, column, getattr(row, column))


async def add(
    conn: AsyncConnection, site_id: str, user_id: str, label: str, column: str, item_id: str
) -> None:
    """Mark the item; a second mark of the same item is a 409."""
    try:
        async with conn.begin_nested():
            await conn.execute(
                insert(favorites).values(
                    id=str(uuid.uuid4()),
                    site_id=site_id,
                    user_id=user_id,
                    label=label,
                    created_at=utcnow(),
                    **{column: item_id},
                )
            )
    except IntegrityError as exc:
        raise Conflict(f"'{label}' is already among the user's favorites.") from exc


async def remove(
    conn: AsyncConnection, site_id: str, user_id: str, column: str, item_id: str
) -> bool:
    result = await conn.execute(
        delete(favorites).where(
            favorites.c.site_id == site_id,
            favorites.c.user_id == user_id,
            favorites.c[column] == item_id,
        )
    )
    return result.rowcount > 0


async def of_user(conn: AsyncConnection, site_id: str, user_id: str) -> list[Favorite]:
    """The user's favorites on the site, in the order they were added."""
    rows = await conn.execute(
        select(favorites)
        .where(favorites.c.site_id == site_id, favorites.c.user_id == user_id)
        .order_by(favorites.c.created_at, favorites.c.id)
    )
    return [Favorite.from_row(r) for r in rows]
