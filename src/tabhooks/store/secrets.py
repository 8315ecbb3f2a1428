"""Named statements over ``webhook_secrets``: the current secret and rotated-out ones."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tabhooks.ids import new_id
from tabhooks.store.tables import utcnow_precise, webhook_secrets


def signs_at(moment: Any) -> ColumnElement[bool]:
    """Whether a secret still signs at ``moment`` (a datetime or a bound parameter): the
    current one has no expiry, a rotated-out one signs until its expiry."""
    return or_(webhook_secrets.c.expires_at.is_(None), webhook_secrets.c.expires_at > moment)


async def live(conn: AsyncConnection, webhook_id: str) -> list[dict[str, object]]:
    """Secrets that still sign, newest first (the current one has no expiry)."""
    now = utcnow_precise()
    rows = await conn.execute(
        select(webhook_secrets)
        .where(
            webhook_secrets.c.webhook_id == webhook_id,
            signs_at(now),
        )
        .order_by(webhook_secrets.c.created_at.desc())
    )
    return [dict(r._mapping) for r in rows]


async def rotate(
    conn: AsyncConnection, webhook_id: str, *, secret: str, old_expires_at: datetime
) -> None:
    """Make ``secret`` current; the previous current secret keeps signing until expiry."""
    now = utcnow_precise()
    await conn.execute(
        update(webhook_secrets)
        .where(webhook_secrets.c.webhook_id == webhook_id, webhook_secrets.c.expires_at.is_(None))
        .values(expires_at=old_expires_at)
    )
    await conn.execute(
        insert(webhook_secrets).values(
            id=new_id("whs_"), webhook_id=webhook_id, secret=secret, created_at=now
        )
    )


async def revoke_all(conn: AsyncConnection, webhook_id: str) -> None:
    """Stop signing this webhook's deliveries at once."""
    await conn.execute(
        update(webhook_secrets)
        .where(webhook_secrets.c.webhook_id == webhook_id, signs_at(utcnow_precise()))
        .values(expires_at=utcnow_precise())
    )
