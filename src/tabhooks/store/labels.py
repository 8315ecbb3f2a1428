"""Named statements over ``labels``: Tableau's data quality warnings on workbooks and data sources.

A label belongs to one row of ``contents`` and goes away with it (``ON DELETE CASCADE``), so
deleting content needs no statement here. Reads join the content, for the ``contentType`` and
the name every Label* event carries, and the user who last changed the warning, for Tableau's
``userDisplayName``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self

from sqlalchemy import Select, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tabhooks.models import ContentKind
from tabhooks.store.tables import contents, labels, users, utcnow


@dataclass(frozen=True, slots=True)
class Label:
    """A data quality warning, with what its responses and events need of its content.

    It lives here rather than in ``models`` because nothing outside the label use cases reads
    it (the same choice as ``store.jobs.Job``).
    """

    id: str
    site_id: str
    content_id: str
    content_kind: ContentKind
    content_name: str
    type: str
    message: str
    is_active: bool
    is_severe: bool
    owner_id: str | None
    #: The full name (else the user name) of whoever last changed the warning.
    owner_display_name: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Self:
        m = row._mapping
        return cls(
            id=m["id"],
            site_id=m["site_id"],
            content_id=m["content_id"],
            content_kind=ContentKind(m["content_kind"]),
            content_name=m["content_name"],
            type=m["type"],
            message=m["message"] or "",
            is_active=bool(m["is_active"]),
            is_severe=bool(m["is_severe"]),
            owner_id=m["owner_id"],
            owner_display_name=m["owner_display_name"],
            created_at=m["created_at"],
            updated_at=m["updated_at"],
        )


def _with_names() -> Select[tuple[object, ...]]:
    return (
        select(
            labels,
            contents.c.kind.label("content_kind"),
            contents.c.name.label("content_name"),
            func.coalesce(users.c.full_name, users.c.name).label("owner_display_name"),
        )
        .join(contents, contents.c.id == labels.c.content_id)
        .outerjoin(users, users.c.id == labels.c.owner_id)
    )


@dataclass(frozen=True, slots=True)
class NewLabel:
    """Everything needed to add a data quality warning to content."""

    site_id: str
    content_id: str
    type: str
    message: str
    is_active: bool
    is_severe: bool
    owner_id: str


async def create(conn: AsyncConnection, new: NewLabel) -> str:
    now = utcnow()
    label_id = str(uuid.uuid4())
    await conn.execute(
        insert(labels).values(
            id=label_id,
            site_id=new.site_id,
            content_id=new.content_id,
            type=new.type,
            message=new.message,
            is_active=new.is_active,
            is_severe=new.is_severe,
            owner_id=new.owner_id,
            created_at=now,
            updated_at=now,
        )
    )
    return label_id


async def get(conn: AsyncConnection, site_id: str, label_id: str) -> Label | None:
    row = (
        await conn.execute(
            _with_names().where(labels.c.site_id == site_id, labels.c.id == label_id)
        )
    ).first()
    return Label.from_row(row) if row else None


async def of_content(conn: AsyncConnection, content_id: str) -> list[Label]:
    """The content's warnings, oldest first (the order they were added in)."""
    rows = await conn.execute(
        _with_names()
        .where(labels.c.content_id == content_id)
        .order_by(labels.c.created_at, labels.c.id)
    )
    return [Label.from_row(r) for r in rows]


async def change(conn: AsyncConnection, label_ids: list[str], **values: object) -> None:
    """Set ``values`` (plus ``updated_at``) on every label in ``label_ids``."""
    if label_ids:
        await conn.execute(
            update(labels).where(labels.c.id.in_(label_ids)).values(**values, updated_at=utcnow())
        )


async def remove(conn: AsyncConnection, label_ids: list[str]) -> None:
    if label_ids:
        await conn.execute(delete(labels).where(labels.c.id.in_(label_ids)))
