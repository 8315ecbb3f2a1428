"""Reading a bin's captured requests: a page, one request, and what arrived since a moment.

Every read applies the bin's age limit itself, so a request past it is never shown even
before the sweep has dropped it, and annotates duplicates and signatures in the same
transaction that read the rows.
"""

from __future__ import annotations

from datetime import datetime

from tabhooks.errors import ResourceNotFound
from tabhooks.inbox.bins import Bin
from tabhooks.inbox.inspection import Captured, annotate
from tabhooks.store import Store
from tabhooks.store import inbox as inbox_store
from tabhooks.store.tables import utcnow_precise

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


async def page(
    store: Store, bin_: Bin, *, before: str | None = None, limit: int = PAGE_SIZE
) -> list[Captured]:
    """Newest first; pass the last id as ``before`` for the next, older page."""
    async with store.read() as conn:
        rows = await inbox_store.list_requests(
            conn,
            bin_.id,
            not_before=bin_.oldest_kept(utcnow_precise()),
            before_id=before,
            limit=min(max(limit, 1), MAX_PAGE_SIZE),
        )
        seen = await inbox_store.occurrences(
            conn, bin_.id, (r["webhook_msg_id"] for r in rows if r["webhook_msg_id"])
        )
    return annotate(rows, secret=bin_.signing_secret, seen=seen)


async def one(store: Store, bin_: Bin, request_id: str) -> Captured:
    async with store.read() as conn:
        row = await inbox_store.get_request(conn, bin_.id, request_id)
        if row is None or row["received_at"] < bin_.oldest_kept(utcnow_precise()):
            raise ResourceNotFound(f"No request '{request_id}' is held in bin '{bin_.id}'.")
        msg_id = row["webhook_msg_id"]
        seen = await inbox_store.occurrences(conn, bin_.id, [msg_id] if msg_id else [])
    (item,) = annotate([row], secret=bin_.signing_secret, seen=seen)
    return item


async def since(store: Store, bin_: Bin, moment: datetime) -> list[Captured]:
    """Requests received at or after ``moment``, oldest first (for the live view)."""
    async with store.read() as conn:
        rows = await inbox_store.received_since(conn, bin_.id, moment)
        seen = await inbox_store.occurrences(
            conn, bin_.id, (r["webhook_msg_id"] for r in rows if r["webhook_msg_id"])
        )
    return annotate(rows, secret=bin_.signing_secret, seen=seen)


async def arrival_of(store: Store, bin_: Bin, request_id: str) -> datetime | None:
    """When a request arrived (where a reconnecting live view resumes), if still held."""
    async with store.read() as conn:
        row = await inbox_store.get_request(conn, bin_.id, request_id)
    return row["received_at"] if row else None
