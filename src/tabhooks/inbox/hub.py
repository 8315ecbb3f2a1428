"""Waking live views when a bin changes, in this process and across processes.

A live view subscribes to its bin and sleeps on a queue of hints ("request", "cleared",
"deleted"). Captures in this process publish directly. On PostgreSQL, where several API
processes may share one database, :class:`PostgresRelay` LISTENs on the channel that
:mod:`tabhooks.store.inbox` NOTIFYs inside each capture's transaction, and republishes
here. A hint carries no data: the view reads what changed from the store, so a lost or
doubled hint costs a query, never a request (and the view also polls, as a safety net).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

import psycopg
from sqlalchemy.engine import make_url

from tabhooks.store import Store
from tabhooks.store.inbox import NOTIFY_CHANNEL

log = logging.getLogger(__name__)

RECONNECT_DELAY_S = 1.0
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


class PostgresRelay:
    """Republishes other processes' NOTIFYs into an :class:`InboxHub`; reconnects on loss."""

    def __init__(self, store: Store, hub: InboxHub) -> None:
        self.store = store
        self.hub = hub
        self._task: asyncio.Task[None] | None = None

    def _libpq_url(self) -> str:
        url = make_url(self.store.engine.url.render_as_string(hide_password=False))
        return url.set(drivername="postgresql").render_as_string(hide_password=False)

    async def start(self) -> None:
        ready = asyncio.Event()
        self._task = asyncio.create_task(self._run(ready), name="tabhooks-inbox-listen")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ready.wait(), timeout=10)

    async def _run(self, ready: asyncio.Event) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._libpq_url(), autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    ready.set()
                    async for note in conn.notifies():
                        kind, _, bin_id = note.payload.partition(":")
                        self.hub.publish(bin_id, kind)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning(
                    "action=inbox_listen_lost retry_in=%ss", RECONNECT_DELAY_S, exc_info=True
                )
                await asyncio.sleep(RECONNECT_DELAY_S)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
