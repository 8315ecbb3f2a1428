"""Reading a bin's captured requests: a page, one request, and what arrived since a moment.

Every read applies the bin's age limit itself, so a request past it is never shown even
before the sweep has dropped it, and annotates duplicates and signatures in the same
transaction that read the rows.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from tabhooks.errors import ResourceNotFound
from tabhooks.inbox.bins import Bin
from tabhooks.inbox.inspection import Captured, annotate
from tabhooks.store import Store
from tabhooks.store import inbox as inbox_store
from tabhooks.store.tables import utcnow_precise

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
#: Body bytes one page reads at most (and at least one request): 500 requests of 256 KiB
#: would otherwise be 128 MiB read, decoded and rendered for one call.
PAGE_MAX_BYTES = 8 * 1024 * 1024
#: Requests a live view considers in one look (their ids and sizes only).
LIVE_CANDIDATES = 500


@dataclass(frozen=True, slots=True)
class Page:
    """Requests, newest first, and whether older ones remain (``next_before``)."""

    items: list[Captured]
    more: bool

    @property
    def next_before(self) -> str | None:
        return self.items[-1].id if self.more and self.items else None


async def page(
    store: Store,
    bin_: Bin,
    *,
    before: str | None = None,
    limit: int = PAGE_SIZE,
    max_bytes: int = PAGE_MAX_BYTES,
) -> Page:
    """Newest first, up to ``limit`` requests or ``max_bytes`` of bodies; pass
    :attr:`Page.next_before` as ``before`` for the next, older page."""
    async with store.read() as conn:
        rows, more = await inbox_store.list_requests(
            conn,
            bin_.id,
            not_before=bin_.oldest_kept(utcnow_precise()),
            before_id=before,
            limit=min(max(limit, 1), MAX_PAGE_SIZE),
            max_bytes=max_bytes,
        )
        seen = await inbox_store.occurrences(
            conn, bin_.id, (r["webhook_msg_id"] for r in rows if r["webhook_msg_id"])
        )
    return Page(annotate(rows, secret=bin_.signing_secret, seen=seen), more)


async def one(store: Store, bin_: Bin, request_id: str) -> Captured:
    async with store.read() as conn:
        row = await inbox_store.get_request(conn, bin_.id, request_id)
        if row is None or row["received_at"] < bin_.oldest_kept(utcnow_precise()):
            raise ResourceNotFound(f"No request '{request_id}' is held in bin '{bin_.id}'.")
        msg_id = row["webhook_msg_id"]
        seen = await inbox_store.occurrences(conn, bin_.id, [msg_id] if msg_id else [])
    (item,) = annotate([row], secret=bin_.signing_secret, seen=seen)
    return item


@dataclass(frozen=True, slots=True)
class Fresh:
    """What a live view's look found: requests to show, oldest first, and the ids of older
    arrivals passed over (a flood shows its newest; a reload shows them all)."""

    items: list[Captured]
    passed_over: list[str]


async def since(
    store: Store,
    bin_: Bin,
    moment: datetime,
    *,
    shown: Collection[str],
    max_items: int,
    max_bytes: int,
) -> Fresh:
    """Requests received at or after ``moment`` that are not in ``shown`` (for the live view).

    Only ids and sizes are read for every candidate, and bodies only for the newest
    ``max_items`` (up to ``max_bytes`` of them, and at least one), so a flooded bin costs each
    look a bounded amount of work however many requests arrived since the last.
    """
    async with store.read() as conn:
        arrivals = await inbox_store.arrivals_since(conn, bin_.id, moment, LIVE_CANDIDATES)
        unseen = [(i, size) for i, _, size in arrivals if i not in shown]
        chosen = inbox_store.ids_within(unseen[:max_items], max_bytes)
        rows = await inbox_store.requests_by_ids(conn, bin_.id, chosen)
        seen = await inbox_store.occurrences(
            conn, bin_.id, (r["webhook_msg_id"] for r in rows if r["webhook_msg_id"])
        )
    items = annotate(rows, secret=bin_.signing_secret, seen=seen)
    items.sort(key=lambda item: (item.received_at, item.id))
    picked = set(chosen)
    return Fresh(items, [i for i, _ in unseen if i not in picked])


async def arrival_of(store: Store, bin_: Bin, request_id: str) -> datetime | None:
    """When a request arrived (where a reconnecting live view resumes), if still held."""
    async with store.read() as conn:
        row = await inbox_store.get_request(conn, bin_.id, request_id)
    return row["received_at"] if row else None
