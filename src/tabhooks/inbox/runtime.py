"""The inspector's background pieces in a server process: the relay and the age sweep."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tabhooks.inbox.hub import CrossProcessRelay, InboxHub
from tabhooks.store import Store
from tabhooks.store import inbox as inbox_store
from tabhooks.store.tables import utcnow_precise

log = logging.getLogger(__name__)

#: How often requests past their bin's age limit are dropped in bins nobody posts to (busy
#: bins are trimmed on every capture anyway).
SWEEP_INTERVAL_S = 300.0


async def _sweep_forever(store: Store) -> None:
    while True:
        await asyncio.sleep(SWEEP_INTERVAL_S)
        try:
            async with store.write() as conn:
                dropped = await inbox_store.purge_expired(conn, utcnow_precise())
            if dropped:
                log.info("action=inbox_sweep dropped=%d", dropped)
        except Exception:
            log.warning("action=inbox_sweep_failed", exc_info=True)


@asynccontextmanager
async def inbox_runtime(store: Store, hub: InboxHub) -> AsyncIterator[InboxHub]:
    """Run the cross-process relay and the sweep for the block's duration."""
    relay = CrossProcessRelay(store, hub)
    await relay.start()
    sweeper = asyncio.create_task(_sweep_forever(store), name="tabhooks-inbox-sweep")
    try:
        yield hub
    finally:
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper
        await relay.stop()
