"""Opening the store: one back end, picked by URL, behind one :class:`Store`.

Everything that differs between SQLite and PostgreSQL lives in the two back ends
(:mod:`tabhooks.store.sqlite`, :mod:`tabhooks.store.postgres`; the protocol is
:mod:`tabhooks.store.backend`), chosen once by :func:`open_store`. What is the same for
both lives here: a write transaction's scope and its after-commit callbacks, the in-process
wake-up events, listening.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from tabhooks.store.backend import Backend
from tabhooks.store.listen import Subscription
from tabhooks.store.postgres import PostgresBackend
from tabhooks.store.sqlite import SQLiteBackend

log = logging.getLogger(__name__)

#: The one key a write transaction's connection carries in ``info``: its :class:`WriteScope`.
_SCOPE = "tabhooks.write_scope"


def driver_url(url: str) -> str:
    """Map the URL a user writes to the driver tabhooks uses for it.

    ``sqlite:///x.db`` becomes ``sqlite+pysqlite:///x.db`` (``sqlite+aiosqlite``, which older
    releases used, is read the same way); ``postgresql://`` and ``postgres://`` become
    ``postgresql+psycopg://`` (psycopg 3 serves the async engine and sync tools alike).
    """
    parsed = make_url(url)
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "postgres":
        backend = "postgresql"
    if backend == "sqlite" and driver in {"", "pysqlite", "aiosqlite"}:
        parsed = parsed.set(drivername="sqlite+pysqlite")
    elif backend == "postgresql" and driver in {"", "psycopg", "psycopg2"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend not in {"sqlite", "postgresql"}:
        raise ValueError(f"unsupported database URL {url!r}: use sqlite:/// or postgresql://")
    return parsed.render_as_string(hide_password=False)


@dataclass(slots=True)
class WriteScope:
    """What one write transaction carries besides its statements (see :func:`after_commit`).

    Attributes:
        store: The store the transaction writes to.
        values: Whatever the transaction's code keeps for its own duration, by key (the
            outbox keeps its hand-off here); gone when the transaction ends.
    """

    store: Store
    values: dict[str, Any] = field(default_factory=dict)
    _after_commit: list[Callable[[], None]] = field(default_factory=list)


def write_scope(conn: AsyncConnection) -> WriteScope:
    """The scope of the write transaction ``conn`` is in (only :meth:`Store.write` opens one).

    Raises:
        RuntimeError: ``conn`` is not in a write transaction of a store.
    """
    scope: WriteScope | None = conn.info.get(_SCOPE)
    if scope is None:
        raise RuntimeError("not in a write transaction (Store.write)")
    return scope


def after_commit(conn: AsyncConnection, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the write transaction ``conn`` is in has committed.

    Callbacks run in the order they were registered, right after the commit and before
    :meth:`Store.write` returns to its caller; a transaction that rolls back runs none. They
    must not raise (one that does is logged): the transaction has committed by then.
    """
    write_scope(conn)._after_commit.append(callback)


class Store:
    """The database: read and write transactions, listening, wake-ups; its :attr:`backend`
    does what differs between SQLite and PostgreSQL."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        #: The SQLite database file (``None`` for PostgreSQL and in-memory SQLite).
        self.database_path: Path | None = backend.database_path
        #: Set after a commit that queued deliveries (and on PostgreSQL by a NOTIFY from
        #: another process); a dispatcher in this process waits on it.
        self.new_work = asyncio.Event()
        #: Set when this process queued a background job (refresh, flow run).
        self.new_jobs = asyncio.Event()

    def read(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A connection for reading (PostgreSQL: one transaction, a consistent snapshot;
        SQLite: autocommit on a read-only connection, on the loop thread).

        The back end's own context manager, not one wrapped around it: every API read goes
        through here, and a second generator frame per read was measurable in Get Webhook.
        """
        return self.backend.read()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction, committed on success and rolled back on any error.

        Code inside it may register work for after the commit with :func:`after_commit`.
        """
        scope = WriteScope(self)
        async with self.backend.write() as conn:
            with self._scoped(conn.info, scope):
                yield conn
        # Only reached after a successful commit.
        for callback in scope._after_commit:
            try:
                callback()
            except Exception:
                log.exception("action=after_commit_failed callback=%r", callback)

    @staticmethod
    @contextmanager
    def _scoped(info: dict[Any, Any], scope: WriteScope) -> Iterator[None]:
        """Carry ``scope`` in the connection's ``info`` for the transaction's duration.

        ``info`` belongs to the pooled connection and outlives the transaction, so the scope
        is always taken off again, whether the transaction commits or not.
        """
        info[_SCOPE] = scope
        try:
            yield
        finally:
            info.pop(_SCOPE, None)

    @asynccontextmanager
    async def listen(
        self,
        channel: str,
        on_notify: Callable[[str], None],
        *,
        on_connect: Callable[[], None] | None = None,
        on_disconnect: Callable[[], None] | None = None,
    ) -> AsyncIterator[None]:
        """Hear ``NOTIFY`` on ``channel`` from other processes for the block's duration.

        PostgreSQL: every subscriber of this store shares one connection and one loop
        (:class:`~tabhooks.store.listen.Listener`; see there for the callbacks). SQLite:
        nothing crosses processes, so the subscriber is connected at once and hears nothing.
        """
        subscription = Subscription(channel, on_notify, on_connect, on_disconnect)
        async with self.backend.listen(subscription):
            yield

    def truncate_wal(self) -> None:
        """Copy SQLite's write-ahead log into the database file and empty it (nothing on
        PostgreSQL). Called after secrets were replaced (:mod:`tabhooks.store.sealing`), so
        the old values do not linger in the log."""
        self.backend.truncate_wal()

    async def dispose(self) -> None:
        await self.backend.dispose()


def open_store(url: str, **engine_kw: Any) -> Store:
    """Open the store at ``url`` on its back end (not yet migrated: see
    :func:`tabhooks.store.migrate`)."""
    target = make_url(driver_url(url))
    if target.get_backend_name() == "sqlite":
        return Store(SQLiteBackend(target))
    return Store(PostgresBackend(target, **engine_kw))
