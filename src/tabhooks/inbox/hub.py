"""Waking live views when a bin changes, in this process and across processes.

A live view subscribes to its bin and sleeps on a queue of hints ("request", "cleared",
"deleted"). Captures in this process publish directly. Where several API processes share one
database (PostgreSQL), :class:`CrossProcessRelay` LISTENs on the channel that
:mod:`tabhooks.store.inbox` NOTIFYs inside each capture's transaction, and republishes
here. A hint carries no data: the view reads what changed from the store, so a lost or
doubled hint costs a query, never a request (and the view also polls, as a safety net).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from tabhooks.store import Store
from tabhooks.store.inbox import NOTIFY_CHANNEL

#: Hints a slow subscriber may have pending; more are dropped (one is enough to wake it).
_QUEUE_SIZE = 16


class InboxHub:
    """In-process fan-out of bin changes to the live views watching them."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[str]]] = {}

    @contextlib.contextmanager
    def subscribe(self, bin_id: str) -> Iterator[asyncio.Queue[str]]:
        """A queue that receives the kind of every change to ``bin_id`` while open."""
        queue: asyncio.Queue[str] = asyncio.Queue(_QUEUE_SIZE)
        self._subscribers.setdefault(bin_id, set()).add(queue)
        try:
            yield queue
        finally:
            watchers = self._subscribers.get(bin_id)
            if watchers is not None:
                watchers.discard(queue)
                if not watchers:
                    del self._subscribers[bin_id]

    def publish(self, bin_id: str, kind: str) -> None:
        for queue in self._subscribers.get(bin_id, ()):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(kind)

    def watching(self, bin_id: str) -> int:
        return len(self._subscribers.get(bin_id, ()))


class CrossProcessRelay:
    """Republishes other processes' NOTIFYs into an :class:`InboxHub`, through the store's one
    LISTEN loop (:meth:`tabhooks.store.Store.listen`, which reconnects on loss). On an SQLite
    store no other process writes, and listening hears nothing: the relay is idle there."""

    def __init__(self, store: Store, hub: InboxHub) -> None:
        self.store = store
        self.hub = hub
        self._listening = contextlib.AsyncExitStack()

    async def start(self) -> None:
        await self._listening.enter_async_context(self.store.listen(NOTIFY_CHANNEL, self._publish))

    def _publish(self, payload: str) -> None:
        kind, _, bin_id = payload.partition(":")
        self.hub.publish(bin_id, kind)

    async def stop(self) -> None:
        await self._listening.aclose()
