"""The SQLite back end: the zero-set-up store, one writer, statements on the loop thread.

Writers are serialised in-process by an asyncio lock and start with ``BEGIN IMMEDIATE``, so
two writers never deadlock upgrading a read lock; WAL lets readers run alongside. Statements
run synchronously on the event loop through plain pysqlite connections (:class:`LoopConnection`
poses as the part of an ``AsyncConnection`` the store uses): an indexed SQLite statement takes
microseconds, while aiosqlite handed every cursor call to its own thread and back, which
measured ten times the cost of the query (docs/performance.md, the REST API's first rows).
The one write connection is kept open between transactions, WAL checkpoints run in their own
thread (:mod:`tabhooks.store.checkpoint`), and the delivery hot path's statements run on the
driver (:mod:`tabhooks.store.driver`), some of them deferred to the end of the transaction.
Nothing crosses processes: listening hears nothing and a notification is only in-process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import stat
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    URL,
    Connection,
    Engine,
    Select,
    Text,
    bindparam,
    create_engine,
    event,
    func,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from tabhooks.clock import utcnow_precise
from tabhooks.store.backend import BACKEND_KEY
from tabhooks.store.checkpoint import LOG_BOUND_BYTES, WalCheckpointer
from tabhooks.store.deliveries import (
    DELIVERING,
    ClaimForm,
    due_rows,
    sending_columns,
    with_sending_context,
)
from tabhooks.store.driver import DriverStatement
from tabhooks.store.listen import Subscription
from tabhooks.store.rows import LeaseParams
from tabhooks.store.tables import deliveries, webhook_secrets

log = logging.getLogger(__name__)

_BUSY_TIMEOUT_MS = 10_000
_READ_BUSY_TIMEOUT_MS = 200
#: Read connections kept open between reads (the pool holds up to 20; the rest go back).
_IDLE_READERS = 4
#: Mode of the SQLite database file; SQLite gives its -wal and -shm files the same mode.
SQLITE_FILE_MODE = 0o600
_Query = TypeVar("_Query", bound=Select[Any])


class SQLiteBackend:
    """The store on an SQLite file (or in memory); see the module docstring."""

    name = "sqlite"
    shared = False

    def __init__(self, url: URL) -> None:
        database = url.database or ""
        #: The database file (None in memory).
        self.database_path: Path | None = None
        if database and database != ":memory:":
            self.database_path = Path(database).expanduser()
            self.database_path.resolve().parent.mkdir(parents=True, exist_ok=True)
            _restrict_files(self.database_path)
        sync_url = url.set(drivername="sqlite+pysqlite")
        self._read_engine = create_engine(
            sync_url,
            pool_size=4,
            max_overflow=16,
            connect_args={"check_same_thread": False},
            # Reads run in autocommit (no BEGIN): there is no transaction to roll back.
            pool_reset_on_return=None,
        )
        self._tune_reader(self._read_engine)
        self._idle_readers: list[LoopConnection] = []
        self._write_engine = create_engine(
            sync_url, pool_size=1, max_overflow=1, connect_args={"check_same_thread": False}
        )
        self._tune_writer(self._write_engine)
        self._write_conn: Connection | None = None
        self._write_lock = asyncio.Lock()
        self._checkpointer: WalCheckpointer | None = None
        if self.database_path is not None:
            self._checkpointer = WalCheckpointer(str(self.database_path))
            self._checkpointer.start()

    @property
    def checkpointer(self) -> WalCheckpointer | None:
        """The thread that copies the log back (None in memory)."""
        return self._checkpointer

    # ------------------------------------------------------------------ transactions

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only connection in autocommit; WAL readers never wait for the writer.

        Connections a read gave back whole are kept open for the next read, not returned to
        the pool: checking one out and in again was a tenth of a Get Webhook's server time
        (docs/performance.md, "REST API per-request layers"). A read that raised closes
        its connection, whatever state the error left it in.
        """
        idle = self._idle_readers
        conn = idle.pop() if idle else LoopConnection(self._read_engine.connect())
        try:
            yield conn  # type: ignore[misc]
        except BaseException:
            conn.close()
            raise
        if len(idle) < _IDLE_READERS and conn.reusable():
            idle.append(conn)
        else:
            conn.close()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """One writer at a time in this process (the asyncio lock); ``BEGIN IMMEDIATE`` takes
        the file's write lock up front, so a transaction never fails half-way upgrading a read
        lock. Deferred rows are written before the commit."""
        async with self._write_lock:
            checkpointer = self._checkpointer
            if checkpointer is not None and checkpointer.over_bound():
                # Hold writers back for one checkpoint pass, so the log starts over (see
                # tabhooks.store.checkpoint): the loop runs on meanwhile.
                await checkpointer.catch_up()
            sync_conn = self._writer()
            with sync_conn.begin():
                loop_conn = LoopConnection(sync_conn)
                yield loop_conn  # type: ignore[misc]
                loop_conn.flush()

    def _writer(self) -> Connection:
        """The one write connection, kept open between transactions.

        Checking a connection out of the pool and back in for every transaction cost more
        than the statements of a typical one; only one write transaction runs at a time, so
        one connection serves them all. A connection SQLAlchemy invalidated (an I/O error,
        say) is replaced.
        """
        conn = self._write_conn
        if conn is None or conn.closed or conn.invalidated:
            conn = self._write_engine.connect().execution_options(sqlite_begin="BEGIN IMMEDIATE")
            self._write_conn = conn
        return conn

    # ------------------------------------------------------------------ what differs

    @asynccontextmanager
    async def listen(self, subscription: Subscription) -> AsyncIterator[None]:
        """Connected at once, and nothing ever heard: one process owns an SQLite store and
        signals itself in memory, so its subscribers never have anything to catch up on."""
        if subscription.on_connect is not None:
            subscription.on_connect()
        try:
            yield
        finally:
            if subscription.on_disconnect is not None:
                subscription.on_disconnect()

    async def notify(self, conn: AsyncConnection, channel: str, payload: str = "") -> None:
        """Nothing to do: no other process listens."""

    async def serialise(self, conn: AsyncConnection, key: int) -> None:
        """Nothing: a write transaction holds the file's write lock (``BEGIN IMMEDIATE``)."""

    def lock_rows(self, query: _Query, *, skip_locked: bool = False) -> _Query:
        """``query`` unchanged: the write transaction holds the whole file."""
        return query

    def lock_referenced(self, query: _Query) -> _Query:
        """``query`` unchanged: the write transaction holds the whole file."""
        return query

    @asynccontextmanager
    async def scrub_freed_pages(self, conn: AsyncConnection) -> AsyncIterator[None]:
        """``PRAGMA secure_delete`` on for the block, then back to what it was."""
        previous = int((await conn.execute(text("PRAGMA secure_delete"))).scalar() or 0)
        await conn.execute(text("PRAGMA secure_delete=1"))
        try:
            yield
        finally:
            await conn.execute(text(f"PRAGMA secure_delete={previous}"))

    def transaction_memo(self, conn: AsyncConnection) -> _Memo:
        memo: _Memo = conn.transaction_memo  # type: ignore[attr-defined]
        return memo

    def driver_cursor(self, conn: AsyncConnection, flush: bool) -> Any:
        loop_conn: LoopConnection = conn  # type: ignore[assignment]
        return loop_conn.driver_cursor(flush)

    def defer(self, conn: AsyncConnection, statement: Any, rows: Sequence[Sequence[Any]]) -> bool:
        loop_conn: LoopConnection = conn  # type: ignore[assignment]
        loop_conn.defer(statement, rows)
        return True

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
        """The due rows with what sending needs, read in one driver-level statement and leased
        with one ``executemany``.

        The write transaction holds SQLite's write lock, so nothing can claim these rows
        between the read and the lease. On the driver because a pull of 500 rows through
        SQLAlchemy's result machinery (and its cache key for an ``IN`` of 500 ids) cost as
        much as sending them did (docs/performance.md, phase (g)).
        """
        now = utcnow_precise()
        until = now + timedelta(seconds=lease_s)
        parameters: dict[str, Any] = {"now": now, "limit": limit}
        if destination is not None:
            form = ClaimForm.ONE
            parameters["line"] = destination
        elif exclude_destinations:
            form = ClaimForm.OTHERS
            parameters["excluded"] = json.dumps(list(exclude_destinations))
        else:
            form = ClaimForm.ANY
        rows = await _CLAIMS[form].execute(conn, parameters)
        ids = list(dict.fromkeys(row[0] for row in rows))
        await _LEASE.execute_many_values(
            conn, [LeaseParams(until, worker_id, now, delivery_id) for delivery_id in ids]
        )
        return rows

    def truncate_wal(self) -> None:
        """Copy the write-ahead log into the database file and empty it (after secrets were
        replaced, so the old values do not linger there); waits for readers for up to the
        busy timeout."""
        if self.database_path is None:
            return
        conn = sqlite3.connect(self.database_path, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()

    async def dispose(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        if self._write_conn is not None:
            self._write_conn.close()
            self._write_conn = None
        while self._idle_readers:
            self._idle_readers.pop().close()
        self._read_engine.dispose()
        self._write_engine.dispose()

    # ------------------------------------------------------------------ connections

    def _tune_reader(self, engine: Engine) -> None:
        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, record: Any) -> None:
            record.info[BACKEND_KEY] = self
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA query_only=ON")  # this connection can never write
            cursor.execute("PRAGMA foreign_keys=ON")
            # Never block the loop for long: WAL readers only wait during rare checkpoints.
            cursor.execute(f"PRAGMA busy_timeout={_READ_BUSY_TIMEOUT_MS}")
            cursor.close()

    def _tune_writer(self, engine: Engine) -> None:
        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, record: Any) -> None:
            record.info[BACKEND_KEY] = self
            # Take transaction control away from the driver so BEGIN is ours to emit.
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # Checkpoints run in their own thread (tabhooks.store.checkpoint), not in a commit.
            cursor.execute("PRAGMA wal_autocheckpoint=0")
            # A log that grew past the bound shrinks back to it when it starts over.
            cursor.execute(f"PRAGMA journal_size_limit={LOG_BOUND_BYTES}")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            statement = conn.get_execution_options().get("sqlite_begin", "BEGIN")
            if statement is not None:
                # Straight to the driver: BEGIN needs none of SQLAlchemy's statement
                # machinery, which cost more than the BEGIN itself on every write transaction.
                cursor = conn.connection.dbapi_connection.cursor()
                try:
                    cursor.execute(statement)
                finally:
                    cursor.close()


class _Memo:
    """What a write transaction remembers while nothing has written since (see
    :func:`tabhooks.store.outbox.emit`): SQLite's count of changed rows tells, and no other
    connection can write meanwhile, as the transaction holds the database's write lock."""

    __slots__ = ("_conn", "values")

    def __init__(self, conn: LoopConnection) -> None:
        self._conn = conn
        self.values: dict[Any, Any] = {}

    def mark(self) -> object:
        return self._conn.total_changes()

    def unchanged_since(self, mark: object) -> bool:
        return mark == self._conn.total_changes()


class LoopConnection:
    """The part of :class:`AsyncConnection` the store uses, over a synchronous connection
    whose statements run on the loop thread (see the module docstring)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.dialect = conn.dialect
        self.info = conn.info
        self._cursor: Any = None
        self._driver_connection: Any = None
        #: What the outbox remembers for the rest of this transaction; a new one starts empty.
        self.transaction_memo = _Memo(self)
        #: Rows deferred by ``DriverStatement.defer_values``, per statement, in deferral order.
        self._deferred: dict[Any, list[Sequence[Any]]] = {}

    async def execute(self, statement: Any, parameters: Any = None) -> Any:
        self.flush()
        return self._conn.execute(statement, parameters)

    def driver_cursor(self, flush: bool = True) -> Any:
        """A pysqlite cursor in this connection's transaction, for :mod:`tabhooks.store.driver`;
        deferred rows are written first unless ``flush`` is False."""
        if flush and self._deferred:
            self.flush()
        if self._cursor is None:
            self._cursor = self._driver().cursor()
        return self._cursor

    def defer(self, statement: Any, rows: Sequence[Sequence[Any]]) -> None:
        """Keep ``rows`` for ``statement`` until :meth:`flush` (see ``defer_values``)."""
        self._deferred.setdefault(statement, []).extend(rows)

    def flush(self) -> None:
        """Write the deferred rows, statement by statement in the order first deferred.

        Called before any other statement runs on this connection and before commit.
        """
        while self._deferred:
            statement = next(iter(self._deferred))
            rows = self._deferred.pop(statement)
            statement.run_values(self.driver_cursor(flush=False), rows)

    def reusable(self) -> bool:
        """Whether a read may hand this connection to the next one: still valid, and left
        as a fresh one would be (SQLAlchemy's autobegun transaction ended; on a connection
        in autocommit that ends nothing in SQLite)."""
        conn = self._conn
        if conn.closed or conn.invalidated:
            return False
        if conn.in_transaction():
            conn.rollback()
        return True

    def close(self) -> None:
        """Give the connection back to its pool."""
        self._conn.close()

    def total_changes(self) -> int:
        """Rows this connection has inserted, updated or deleted since it opened (SQLite's
        ``sqlite3_total_changes``): equal before and after a stretch of statements exactly
        when none of them wrote anything."""
        return int(self._driver().total_changes)

    def _driver(self) -> Any:
        """The pysqlite connection under this transaction (looked up once: SQLAlchemy checks
        the connection's state on every access, and the outbox asks twice per event)."""
        if self._driver_connection is None:
            self._driver_connection = self._conn.connection.driver_connection
        return self._driver_connection

    async def run_sync(self, fn: Any, *args: Any) -> Any:
        self.flush()
        return fn(self._conn, *args)

    @asynccontextmanager
    async def begin_nested(self) -> AsyncIterator[None]:
        self.flush()
        with self._conn.begin_nested():
            try:
                yield
            except BaseException:
                self._deferred.clear()  # deferred inside the savepoint: rolled back with it
                raise
            self.flush()  # written inside the savepoint, which they belong to


# ----------------------------------------------------------------------------- claims


def _claim_statement(form: ClaimForm) -> DriverStatement:
    """The due rows of ``form`` with what sending needs, oldest first (one row per live
    signing secret), for :meth:`SQLiteBackend.claim_deliveries`."""
    # Skipped destinations come as one JSON array, so one compiled statement takes any number.
    skipped = deliveries.c.destination.not_in(
        select(literal_column("value")).select_from(
            func.json_each(bindparam("excluded", type_=Text))
        )
    )
    due = due_rows(form, skipped).add_columns(
        deliveries.c.webhook_id,
        deliveries.c.site_id,
        deliveries.c.attempts,
        deliveries.c.schedule_base,
        deliveries.c.body,
        deliveries.c.destination,
        deliveries.c.event_id,
        deliveries.c.relay_target_id,
        deliveries.c.next_attempt_at,
    )
    rows = due.subquery("due")
    return DriverStatement(
        with_sending_context(select(*sending_columns(rows)), rows).order_by(
            rows.c.next_attempt_at, rows.c.id, webhook_secrets.c.created_at.desc()
        )
    )


_CLAIMS = {form: _claim_statement(form) for form in ClaimForm}
#: Lease one claimed row (run once per row with ``executemany``).
_LEASE = DriverStatement(
    update(deliveries)
    .where(deliveries.c.id == bindparam("b_id"))
    .values(
        status=DELIVERING,
        next_attempt_at=bindparam("b_until"),
        lease_expires_at=bindparam("b_until"),
        leased_by=bindparam("b_worker"),
        updated_at=bindparam("b_now"),
    ),
    row=LeaseParams,
    prefix="b_",
)


# ----------------------------------------------------------------------------- the file


def _restrict_files(path: Path) -> None:
    """Make the database file readable by its owner only, before SQLite opens it.

    SQLite would create it 0644 (less the umask); it creates the -wal and -shm files with the
    mode of the database file, so creating the (empty) file 0600 here makes all three private.
    An existing file others may read is narrowed to 0600 too, with a warning: the store holds
    user data besides the sealed secrets.
    """
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SQLITE_FILE_MODE)
    except FileExistsError:
        pass
    else:
        os.fchmod(descriptor, SQLITE_FILE_MODE)  # whatever the umask
        os.close(descriptor)
        return
    for existing in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            mode = stat.S_IMODE(existing.stat().st_mode)
            if mode & 0o077:
                existing.chmod(SQLITE_FILE_MODE)
        except FileNotFoundError:
            continue
        except OSError as exc:  # another user's file: say so, and carry on
            log.warning("action=store_file_mode file=%s mode=%o error=%s", existing, mode, exc)
            continue
        if mode & 0o077:
            log.warning(
                "action=store_file_mode file=%s was=%o now=%o: others could read it",
                existing,
                mode,
                SQLITE_FILE_MODE,
            )
