"""Waking dispatchers the moment work is committed.

In one process the store's ``new_work`` event is set after every commit that queued
deliveries. Across processes on PostgreSQL the outbox also NOTIFYs its channel, and
:func:`woken_by_other_processes` has the store's one LISTEN loop set the same event, so a
worker on another machine wakes within milliseconds. Polling remains as the safety net for
missed signals, due retries and expired leases.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tabhooks.store import Store
from tabhooks.store.outbox import NOTIFY_CHANNEL


@asynccontextmanager
async def woken_by_other_processes(store: Store) -> AsyncIterator[None]:
    """Set ``store.new_work`` on every NOTIFY of the outbox, and after every (re)connection
    (anything committed while nobody listened is found by the next claim)."""
    wake = store.new_work.set
    async with store.listen(NOTIFY_CHANNEL, lambda _payload: wake(), on_connect=wake):
        yield
