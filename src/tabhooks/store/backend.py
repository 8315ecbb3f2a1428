"""The one boundary between the store and a database: a small protocol, two implementations.

:class:`Backend` is what the store asks of a database — read and write transactions, the
delivery queue's claims, notify, listen — implemented once for SQLite
(:mod:`tabhooks.store.sqlite`: its single writer, statements on the driver, deferred inserts,
the checkpointer) and once for PostgreSQL (:mod:`tabhooks.store.postgres`: ``SKIP LOCKED``,
``NOTIFY``, one LISTEN loop). :func:`tabhooks.store.open_store` picks one when the store
opens; every connection it hands out knows its back end (:func:`backend_of`), so the store's
modules ask it instead of testing the dialect.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncConnection

if TYPE_CHECKING:
    from tabhooks.store.listen import Subscription

#: The key under which each pooled connection's ``info`` names its back end.
BACKEND_KEY = "tabhooks.backend"


_Query = TypeVar("_Query", bound="Select[Any]")


class TransactionMemo(Protocol):
    """What a write transaction may remember while nothing has written since (SQLite)."""

    values: dict[Any, Any]

    def unchanged_since(self, mark: object) -> bool:
        """Whether nothing was written since :meth:`mark` returned ``mark``."""
        ...

    def mark(self) -> object:
        """A mark of the transaction's writes so far."""
        ...


class Backend(Protocol):
    """A database behind the store (see the module docstring)."""

    #: The SQLAlchemy dialect's name: ``sqlite`` or ``postgresql``.
    name: str
    #: True when other processes share the queue (so waking them is worth a NOTIFY).
    shared: bool
    #: The SQLite database file (None for PostgreSQL and in-memory SQLite).
    database_path: Path | None

    def read(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A connection for reading."""
        ...

    def write(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A write transaction, committed on success and rolled back on any error."""
        ...

    def listen(self, subscription: Subscription) -> AbstractAsyncContextManager[None]:
        """Hear other processes' NOTIFYs on ``subscription.channel`` for the block."""
        ...

    async def notify(self, conn: AsyncConnection, channel: str, payload: str = "") -> None:
        """Tell other processes' listeners on ``channel``, once this transaction commits."""
        ...

    async def serialise(self, conn: AsyncConnection, key: int) -> None:
        """Hold the lock named ``key`` until this write transaction ends, so two processes'
        transactions that check-then-act on the same thing (claiming jobs, migrating) take
        turns. SQLite's single writer serialises every write transaction already."""
        ...

    def lock_rows(self, query: _Query, *, skip_locked: bool = False) -> _Query:
        """``query`` locking the rows it reads until the transaction ends (``FOR UPDATE``;
        ``skip_locked`` passes over rows another transaction holds). Unchanged on SQLite,
        where a write transaction already holds the whole file."""
        ...

    def lock_referenced(self, query: _Query) -> _Query:
        """``query`` locking its rows against change but not against inserts that refer to
        them (``FOR NO KEY UPDATE``): serialises checks that count a parent's children."""
        ...

    def scrub_freed_pages(self, conn: AsyncConnection) -> AbstractAsyncContextManager[None]:
        """For the block, values replaced or deleted in ``conn`` are overwritten in the
        database file rather than left in its free pages (SQLite's ``secure_delete``);
        PostgreSQL's storage is not the store's to scrub, so nothing there."""
        ...

    def transaction_memo(self, conn: AsyncConnection) -> TransactionMemo | None:
        """A memo for the rest of this write transaction, where one is sound (else None)."""
        ...

    def driver_cursor(self, conn: AsyncConnection, flush: bool) -> Any:
        """The driver's cursor in ``conn``'s transaction for driver-level statements, or None
        to run them as SQLAlchemy Core statements (:mod:`tabhooks.store.driver`)."""
        ...

    def defer(self, conn: AsyncConnection, statement: Any, rows: Sequence[Sequence[Any]]) -> bool:
        """Keep ``rows`` for ``statement`` until the transaction needs them; False when this
        back end runs statements at once instead."""
        ...

    async def claim_deliveries(
        self,
        conn: AsyncConnection,
        *,
        worker_id: str,
        limit: int,
        lease_s: float,
        destination: str | None,
        exclude_destinations: Collection[str],
    ) -> Sequence[Sequence[Any]]:
        """Lease up to ``limit`` due deliveries to ``worker_id``; return them as
        :class:`~tabhooks.store.rows.SendingRow` rows (see
        :func:`tabhooks.store.deliveries.claim_due`, which builds what a dispatcher holds)."""
        ...

    def truncate_wal(self) -> None:
        """Empty SQLite's write-ahead log into the database file (nothing elsewhere)."""
        ...

    async def dispose(self) -> None: ...


def backend_of(conn: AsyncConnection) -> Backend:
    """The back end ``conn`` came from (each pooled connection is tagged when it opens)."""
    backend: Backend = conn.info[BACKEND_KEY]
    return backend
