"""Waking dispatchers the moment work is committed.

In one process the store's ``new_work`` event is set after every commit that queued
deliveries. Across processes on PostgreSQL, :class:`PostgresListener` LISTENs on the outbox's
channel and sets the same event, so a worker on another machine wakes within milliseconds.
Polling remains as the safety net for missed signals, due retries and expired leases.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import psycopg
from sqlalchemy.engine import make_url

from tabhooks.store import Store
from tabhooks.store.outbox import NOTIFY_CHANNEL

log = logging.getLogger(__name__)
RECONNECT_DELAY_S = 1.0


def _libpq_url(store: Store) -> str:
    url = make_url(str(store.engine.url.render_as_string(hide_password=False)))
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class PostgresListener:
    """Sets ``store.new_work`` on every NOTIFY; reconnects if the connection drops."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        ready = asyncio.Event()
        self._task = asyncio.create_task(self._run(ready), name="tabhooks-listen")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ready.wait(), timeout=10)

    async def _run(self, ready: asyncio.Event) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    _libpq_url(self.store), autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    ready.set()
                    # Anything committed while we were away is found by the next claim.
                    self.store.new_work.set()
                    async for _ in conn.notifies():
                        self.store.new_work.set()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("action=listen_lost retry_in=%ss", RECONNECT_DELAY_S, exc_info=True)
                await asyncio.sleep(RECONNECT_DELAY_S)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
