"""One LISTEN connection per PostgreSQL store for every channel this process listens on.

Other processes say "something changed" with ``NOTIFY`` (PostgreSQL delivers it once their
transaction commits): deliveries were queued, a bin captured a request, a session was
revoked. Each part of a process that cares subscribes to its channel through
:meth:`tabhooks.store.Store.listen`; they all share this one connection and one loop, which
reconnects after a loss and then tells every subscriber (``on_connect``), because
notifications sent while nobody listened are gone: a subscriber catches up by reading the
store. On SQLite nothing crosses processes and :meth:`~tabhooks.store.Store.listen` does
nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import psycopg

log = logging.getLogger(__name__)

#: Wait after a lost connection before connecting again.
RECONNECT_DELAY_S = 1.0
#: How long a new subscriber waits for its LISTEN (it goes on regardless, and polls).
READY_TIMEOUT_S = 10.0


@dataclass(frozen=True, eq=False)
class Subscription:
    """What one subscriber wants told (each callback runs on the event loop, must not block
    and must not raise).

    Attributes:
        channel: The channel, a plain SQL identifier.
        on_notify: Called with each notification's payload.
        on_connect: Called once LISTEN is in place, after every (re)connection: whatever was
            notified meanwhile is lost, so this is when to catch up.
        on_disconnect: Called when the connection is lost (or the subscription ends).
    """

    channel: str
    on_notify: Callable[[str], None]
    on_connect: Callable[[], None] | None = None
    on_disconnect: Callable[[], None] | None = None


class Listener:
    """The shared LISTEN loop of one store (see the module docstring).

    Args:
        dsn: A libpq connection string for the store's database.
    """

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._subscriptions: list[Subscription] = []
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()

    @asynccontextmanager
    async def listening(self, subscription: Subscription) -> AsyncIterator[None]:
        """Keep ``subscription`` served for the block's duration."""
        self._subscriptions.append(subscription)
        await self._restart()
        try:
            yield
        finally:
            self._subscriptions.remove(subscription)
            await self._restart()  # ending the old connection tells it: on_disconnect

    async def _restart(self) -> None:
        """Listen on the current channels: a new connection whenever they change (they change
        at start-up and shutdown), so no LISTEN races the loop reading notifications."""
        await self._stop()
        if not self._subscriptions:
            return
        self._connected.clear()
        self._task = asyncio.create_task(self._run(), name="tabhooks-listen")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), timeout=READY_TIMEOUT_S)

    async def _stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        subscriptions = list(self._subscriptions)
        by_channel: dict[str, list[Subscription]] = {}
        for subscription in subscriptions:
            by_channel.setdefault(subscription.channel, []).append(subscription)
        while True:
            connected = False
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._dsn, autocommit=True
                ) as conn:
                    for channel in by_channel:
                        await conn.execute(f"LISTEN {channel}")
                    connected = True
                    _each(subscriptions, lambda s: s.on_connect)
                    self._connected.set()
                    async for note in conn.notifies():
                        for subscription in by_channel.get(note.channel, ()):
                            _call(subscription.on_notify, note.payload)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("action=listen_lost retry_in=%ss", RECONNECT_DELAY_S, exc_info=True)
            finally:
                if connected:
                    _each(subscriptions, lambda s: s.on_disconnect)
            await asyncio.sleep(RECONNECT_DELAY_S)

    async def close(self) -> None:
        await self._stop()


def _each(
    subscriptions: list[Subscription],
    callback_of: Callable[[Subscription], Callable[[], None] | None],
) -> None:
    for subscription in subscriptions:
        callback = callback_of(subscription)
        if callback is not None:
            _call(callback)


def _call(callback: Callable[..., None], *args: str) -> None:
    try:
        callback(*args)
    except Exception:
        log.exception("action=listen_callback_failed callback=%r", callback)
