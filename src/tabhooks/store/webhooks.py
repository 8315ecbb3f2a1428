"""Named statements over the ``webhooks`` table (always scoped to one site)."""

from __future__ import annotations

import uuid

from sqlalchemy import Select, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tabhooks.errors import WebhookNameConflict
from tabhooks.models import Webhook
from tabhooks.store.tables import users, utcnow, webhooks


def _with_owner() -> Select[tuple[object, ...]]:
    return select(webhooks, users.c.name.label("owner_name")).outerjoin(
        users, users.c.id == webhooks.c.owner_id
    )


def _conflict(name: object) -> WebhookNameConflict:
    return WebhookNameConflict(f"A webhook named '{name}' already exists on this site.")


async def create(
    conn: AsyncConnection,
    *,
    site_id: str,
    name: str,
    event: str,
    url: str,
    is_enabled: bool,
    status_change_reason: str,
    owner_id: str,
    owner_name: str | None = None,
) -> Webhook:
    """Insert a webhook and return it as stored (no read-back: the values are all here)."""
    now = utcnow()
    row = {
        "id": str(uuid.uuid4()),
        "site_id": site_id,
        "name": name,
        "event": event,
        "url": url,
        "method": "POST",
        "is_enabled": is_enabled,
        "status_change_reason": status_change_reason,
        "owner_id": owner_id,
        "consecutive_failures": 0,
        "created_at": now,
        "updated_at": now,
    }
    try:
        # A failed INSERT ends the whole write transaction, which the caller rolls back.
        await conn.execute(insert(webhooks).values(row))
    except IntegrityError as exc:
        raise _conflict(name) from exc
    return Webhook.from_row({**row, "owner_name": owner_name})


# Built once: Get and List Webhooks are the hottest reads, and composing a statement costs
# more than SQLite spends answering it.
_GET = _with_owner().where(
    webhooks.c.site_id == bindparam("site_id"), webhooks.c.id == bindparam("webhook_id")
)
_LIST = (
    _with_owner()
    .where(webhooks.c.site_id == bindparam("site_id"))
    .order_by(webhooks.c.created_at, webhooks.c.name)
)


async def get(conn: AsyncConnection, site_id: str, webhook_id: str) -> Webhook | None:
    row = (await conn.execute(_GET, {"site_id": site_id, "webhook_id": webhook_id})).first()
    return Webhook.from_row(row) if row else None


async def list_for_site(conn: AsyncConnection, site_id: str) -> list[Webhook]:
    rows = await conn.execute(_LIST, {"site_id": site_id})
    return [Webhook.from_row(r) for r in rows]


async def change(conn: AsyncConnection, site_id: str, webhook_id: str, **values: object) -> None:
    values["updated_at"] = utcnow()
    try:
        async with conn.begin_nested():
            await conn.execute(
                update(webhooks)
                .where(webhooks.c.site_id == site_id, webhooks.c.id == webhook_id)
                .values(values)
            )
    except IntegrityError as exc:
        raise _conflict(values.get("name")) from exc


async def remove(conn: AsyncConnection, site_id: str, webhook_id: str) -> bool:
    result = await conn.execute(
        delete(webhooks).where(webhooks.c.site_id == site_id, webhooks.c.id == webhook_id)
    )
    return result.rowcount > 0


async def reassign_owner(
    conn: AsyncConnection, site_id: str, from_user_id: str, to_user_id: str
) -> None:
    """Give a departing user's webhooks to another user, as Tableau does with content."""
    await conn.execute(
        update(webhooks)
        .where(webhooks.c.site_id == site_id, webhooks.c.owner_id == from_user_id)
        .values(owner_id=to_user_id)
    )
