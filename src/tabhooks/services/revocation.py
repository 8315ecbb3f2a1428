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

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from tabhooks.store import Store
from tabhooks.store.backend import backend_of

#: The PostgreSQL channel; payloads are ``user:<id>``, ``token:<sha256>`` or ``all``.
CHANNEL = "tabhooks_auth"
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
    """Tell every API process to drop cached sessions matching ``what`` once this commits
    (PostgreSQL; on SQLite no other process shares the store)."""
    await backend_of(conn).notify(conn, CHANNEL, what)


class RevocationListener:
    """Applies each notification on :data:`CHANNEL` to the cache, through the store's one
    LISTEN loop (:meth:`tabhooks.store.Store.listen`, which reconnects on loss).

    The cache is untrusted (every token looked up in the store) from start until LISTEN
    succeeds, and again from a lost connection until the next LISTEN.
    """

    def __init__(self, store: Store, cache: Forgetting) -> None:
        self.store = store
        self.cache = cache
        self._listening = contextlib.AsyncExitStack()

    async def start(self) -> None:
        self.cache.trusted = False
        await self._listening.enter_async_context(
            self.store.listen(
                CHANNEL,
                self.cache.forget,
                on_connect=self._connected,
                on_disconnect=self._lost,
            )
        )

    def _connected(self) -> None:
        # Whatever was revoked while we were not listening is forgotten too.
        self.cache.clear()
        self.cache.trusted = True

    def _lost(self) -> None:
        self.cache.trusted = False

    async def stop(self) -> None:
        await self._listening.aclose()
        self.cache.trusted = False


@asynccontextmanager
async def revocation_runtime(store: Store, cache: Forgetting) -> AsyncIterator[None]:
    """Keep ``cache`` in step with revocations made by other processes (PostgreSQL; on
    SQLite the store's listening connects at once and hears nothing)."""
    listener = RevocationListener(store, cache)
    await listener.start()
    try:
        yield
    finally:
        await listener.stop()
