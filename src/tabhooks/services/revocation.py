"""Ending sessions everywhere at once: the store rows, and every process's token cache.

A security event (a password change, a user made Unlicensed or removed from a site, a
personal access token revoked, a site suspended, a sign-out) deletes the sessions it ends in
its own transaction, so the next lookup of any of their tokens fails. What remains is each
API process's :class:`~tabhooks.services.auth.PrincipalCache`, which trusts a token it
verified within the last ``auth_cache_s`` seconds without asking the store:

- the process that made the change clears its own cache before answering;
- on PostgreSQL the change also sends ``NOTIFY tabhooks_auth`` in its transaction, which
  PostgreSQL delivers on commit to every process's listener (:class:`RevocationListener`),
  and each drops the entries concerned; a process whose listener is not connected trusts no
  cached token at all, so a lost notification cannot keep a revoked token alive;
- SQLite has no notifications: one API process serves it and clears its cache itself, but a
  change made by another program on the same file (``tabhooks admin revoke-pat`` beside a
  running server) reaches that server's cache only when its entries age out, within
  ``auth_cache_s`` (2 s by default; 0 disables the cache).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from tabhooks.store import Store

log = logging.getLogger(__name__)

#: The PostgreSQL channel; payloads are ``user:<id>``, ``token:<sha256>`` or ``all``.
CHANNEL = "tabhooks_auth"
RECONNECT_DELAY_S = 1.0
EVERYONE = "all"


class Forgetting(Protocol):
    """What the listener drives: a cache that can drop entries and stop being trusted."""

    trusted: bool

    def forget(self, what: str) -> None: ...

    def clear(self) -> None: ...


def user(user_id: str) -> str:
    return f"user:{user_id}"


def token(token_hash: str) -> str:
    return f"token:{token_hash}"


async def announce(conn: AsyncConnection, what: str) -> None:
    """Tell every API process to drop cached sessions matching ``what`` once this commits."""
    if conn.dialect.name == "postgresql":
        await conn.execute(
            text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": what}
        )


class RevocationListener:
    """LISTENs on :data:`CHANNEL` and applies each notification to the cache; reconnects.

    The cache is untrusted (every token looked up in the store) from start until LISTEN
    succeeds, and again from a lost connection until the next LISTEN.
    """

    def __init__(self, store: Store, cache: Forgetting) -> None:
        self.store = store
        self.cache = cache
        self._task: asyncio.Task[None] | None = None

    def _libpq_url(self) -> str:
        url = make_url(self.store.engine.url.render_as_string(hide_password=False))
        return url.set(drivername="postgresql").render_as_string(hide_password=False)

    async def start(self) -> None:
        self.cache.trusted = False
        ready = asyncio.Event()
        self._task = asyncio.create_task(self._run(ready), name="tabhooks-auth-listen")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ready.wait(), timeout=10)

    async def _run(self, ready: asyncio.Event) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._libpq_url(), autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    # Whatever was revoked while we were not listening is forgotten too.
                    self.cache.clear()
                    self.cache.trusted = True
                    ready.set()
                    async for note in conn.notifies():
                        self.cache.forget(note.payload)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning(
                    "action=auth_listen_lost retry_in=%ss", RECONNECT_DELAY_S, exc_info=True
                )
            finally:
                self.cache.trusted = False
            await asyncio.sleep(RECONNECT_DELAY_S)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


@asynccontextmanager
async def revocation_runtime(store: Store, cache: Forgetting) -> AsyncIterator[None]:
    """Keep ``cache`` in step with revocations made by other processes (PostgreSQL)."""
    listener = None if store.is_sqlite else RevocationListener(store, cache)
    if listener is not None:
        await listener.start()
    try:
        yield
    finally:
        if listener is not None:
            await listener.stop()
