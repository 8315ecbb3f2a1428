"""Named statements over ``tags``: the labels of workbooks, data sources, flows and views.

A tag row belongs to one item, a content row (``content_id``) or a view (``view_id``), and is
deleted with it by the foreign key. Labels are kept as sent: Tableau compares them exactly.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, delete, exists, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tabhooks.store.tables import contents, tags, utcnow, views


def _owner_column(view: bool) -> ColumnElement[Any]:
    return tags.c.view_id if view else tags.c.content_id


async def labels_of(
    conn: AsyncConnection, item_ids: Sequence[str], *, view: bool = False
) -> dict[str, tuple[str, ...]]:
    """The tags of each item (content, or views when ``view``), in label order."""
    if not item_ids:
        return {}
    column = _owner_column(view)
    found: dict[str, list[str]] = {}
    rows = await conn.execute(
        select(column.label("item_id"), tags.c.label)
        .where(column.in_(list(dict.fromkeys(item_ids))))
        .order_by(tags.c.label)
    )
    for row in rows:
        found.setdefault(row.item_id, []).append(row.label)
    return {item: tuple(labels) for item, labels in found.items()}


async def add(
    conn: AsyncConnection,
    site_id: str,
    item_id: str,
    labels: Iterable[str],
    *,
    view: bool = False,
) -> None:
    """Give the item every label it does not carry yet."""
    have = set((await labels_of(conn, [item_id], view=view)).get(item_id, ()))
    now = utcnow()
    rows = [
        {
            "id": str(uuid.uuid4()),
            "site_id": site_id,
            "content_id": None if view else item_id,
            "view_id": item_id if view else None,
            "label": label,
            "created_at": now,
        }
        for label in dict.fromkeys(labels)
        if label not in have
    ]
    if rows:
        await conn.execute(insert(tags), rows)


async def remove(conn: AsyncConnection, item_id: str, label: str, *, view: bool = False) -> bool:
    """Take one label off the item; False if it did not carry it."""
    result = await conn.execute(
        delete(tags).where(_owner_column(view) == item_id, tags.c.label == label)
    )
    return result.rowcount > 0


def content_tagged(operator: str, values: tuple[Any, ...]) -> ColumnElement[bool]:
    """Filter ``tags:eq:x`` / ``tags:in:[x,y]`` on a listing of ``contents``."""
    return exists(
        select(tags.c.id).where(tags.c.content_id == contents.c.id, tags.c.label.in_(values))
    )


def view_tagged(operator: str, values: tuple[Any, ...]) -> ColumnElement[bool]:
    """Filter ``tags:eq:x`` / ``tags:in:[x,y]`` on a listing of ``views``."""
    return exists(select(tags.c.id).where(tags.c.view_id == views.c.id, tags.c.label.in_(values)))
