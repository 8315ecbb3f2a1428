"""The transactional outbox: an event and its deliveries, written with the change itself.

:func:`emit` is called inside a use case's write transaction. It stores the event once and one
``pending`` delivery per enabled webhook of the site subscribed to it. If the transaction
rolls back, nothing was emitted; once it commits, the dispatcher will deliver every row even if
the process dies the next instant. The dispatcher is woken after commit (in-process signal, and
``NOTIFY`` on PostgreSQL, which PostgreSQL itself delays until commit).
"""

from __future__ import annotations

import uuid

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from tabhooks import events as catalog
from tabhooks.ids import new_id
from tabhooks.store.tables import deliveries, events, utcnow_precise, webhooks

#: Set on a connection's ``info`` when it wrote deliveries; Store.write wakes the dispatcher.
NEW_WORK_FLAG = "tabhooks_new_work"
#: The PostgreSQL channel dispatchers LISTEN on.
NOTIFY_CHANNEL = "tabhooks_deliveries"
DELIVERY_ID_PREFIX = "msg_"


async def emit(conn: AsyncConnection, occurrence: catalog.Occurrence) -> int:
    """Record ``occurrence`` and queue it for every matching enabled webhook.

    Returns:
        How many deliveries were queued (0 when no webhook listens; the event is kept anyway,
        so the history shows what happened).
    """
    now = utcnow_precise()
    event_id = str(uuid.uuid4())
    await conn.execute(
        insert(events).values(
            id=event_id,
            site_id=occurrence.site_luid,
            event=occurrence.event.name,
            resource=str(occurrence.resource),
            resource_name=occurrence.resource_name,
            resource_luid=occurrence.resource_luid,
            payload=catalog.payload(occurrence).decode(),
            created_at=occurrence.created_at,
        )
    )
    targets = await conn.execute(
        select(webhooks.c.id).where(
            webhooks.c.site_id == occurrence.site_luid,
            webhooks.c.event == occurrence.event.name,
            webhooks.c.is_enabled.is_(True),
        )
    )
    rows = [
        {
            "id": new_id(DELIVERY_ID_PREFIX),
            "event_id": event_id,
            "webhook_id": webhook_id,
            "site_id": occurrence.site_luid,
            "status": "pending",
            "attempts": 0,
            "schedule_base": 0,
            "next_attempt_at": now,
            "created_at": now,
            "updated_at": now,
        }
        for (webhook_id,) in targets
    ]
    if rows:
        await conn.execute(insert(deliveries), rows)
        await signal_new_work(conn)
    return len(rows)


async def signal_new_work(conn: AsyncConnection) -> None:
    """Wake dispatchers once this transaction commits."""
    conn.info[NEW_WORK_FLAG] = True
    if conn.dialect.name == "postgresql":
        await conn.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))
