"""Turning things that happened into catalog occurrences, inside the caller's transaction.

Every use case that changes something Tableau fires an event for calls :func:`emit` with its
open write connection, so the event and its deliveries commit (or roll back) with the change.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from tabhooks import events
from tabhooks.store import outbox
from tabhooks.store.tables import utcnow


async def emit(
    conn: AsyncConnection,
    event_name: str,
    *,
    site_id: str,
    resource_luid: str,
    resource_name: str,
    resource: events.Resource | None = None,
) -> int:
    """Queue ``event_name`` for ``site_id``'s webhooks; returns the deliveries queued."""
    event = events.BY_NAME[event_name]
    occurrence = events.Occurrence(
        event=event,
        resource=resource or event.resource,
        resource_name=resource_name,
        resource_luid=resource_luid,
        site_luid=site_id,
        created_at=utcnow(),
    )
    return await outbox.emit(conn, occurrence)
