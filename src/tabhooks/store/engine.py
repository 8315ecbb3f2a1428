"""Opening the store: one async engine, picked by URL, with dialect quirks handled here.

SQLite is the zero-set-up default. Its writers are serialised in-process by an asyncio lock and
start with ``BEGIN IMMEDIATE``, so two writers never deadlock upgrading a read lock; WAL lets
readers run alongside. PostgreSQL needs none of that and is used as is.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import stat
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from tabhooks.store.checkpoint import WalCheckpointer
from tabhooks.store.listen import Listener, Subscription

log = logging.getLogger(__name__)

_SQLITE_BUSY_TIMEOUT_MS = 10_000
#: Mode of the SQLite database file; SQLite gives its -wal and -shm files the same mode.
SQLITE_FILE_MODE = 0o600
_SQLITE_READ_BUSY_TIMEOUT_MS = 200
#: The one key a write transaction's connection carries in ``info``: its :class:`WriteScope`.
_SCOPE = "tabhooks.write_scope"


def async_url(url: str) -> str:
    """Map the URL a user writes to the async driver tabhooks uses.

    ``sqlite:///x.db`` becomes ``sqlite+aiosqlite:///x.db``; ``postgresql://`` and
    ``postgres://`` become ``postgresql+psycopg://``. URLs naming a driver are kept.
    """
    parsed = make_url(url)
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "postgres":
        backend = "postgresql"
    if backend == "sqlite" and driver in {"", "pysqlite", "aiosqlite"}:
        parsed = parsed.set(drivername="sqlite+aiosqlite")
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
    """The database, with read and write transactions shaped for each dialect."""

    def __init__(
        self,
        engine: AsyncEngine,
        read_engine: Engine | None = None,
        write_engine: Engine | None = None,
        checkpointer: WalCheckpointer | None = None,
        database_path: Path | None = None,
    ) -> None:
        self.engine = engine
        #: The SQLite database file (``None`` for PostgreSQL and in-memory SQLite).
        self.database_path = database_path
        self._checkpointer = checkpointer
        self._write_conn: Connection | None = None
        #: SQLite only: plain pysqlite engines whose statements run on the loop thread.
        self._read_engine = read_engine
        self._write_engine = write_engine
        self.dialect: str = engine.dialect.name
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        #: Set after a commit that queued deliveries (and on PostgreSQL by a NOTIFY from
        #: another process); a dispatcher in this process waits on it.
        self.new_work = asyncio.Event()
        #: Set when this process queued a background job (refresh, flow run).
        self.new_jobs = asyncio.Event()
        self._listener: Listener | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reading.

        On PostgreSQL it is one transaction (a consistent snapshot). On SQLite reads run
        synchronously on the event loop through a read-only pysqlite connection: an indexed
        SQLite read takes microseconds, while aiosqlite hands every cursor call to its own
        thread and back — several hand-offs per statement, which measured ten times the cost
        of the query itself. WAL readers never wait for the writer.
        """
        if self._read_engine is not None:
            with self._read_engine.connect() as sync_conn:
                yield LoopConnection(sync_conn)  # type: ignore[misc]
            return
        async with self.engine.connect() as conn, conn.begin():
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction, committed on success and rolled back on any error.

        Code inside it may register work for after the commit with :func:`after_commit`.
        """
        scope = WriteScope(self)
        if self._write_lock is None:
            async with self.engine.begin() as conn:
                with self._scoped(conn.info, scope):
                    yield conn
        else:
            # SQLite: one writer at a time in this process (the asyncio lock), and its
            # statements run on the loop thread like reads do. BEGIN IMMEDIATE takes the file's
            # write lock up front, so a transaction never fails half-way upgrading a read lock.
            assert self._write_engine is not None
            async with self._write_lock:
                sync_conn = self._writer()
                with sync_conn.begin(), self._scoped(sync_conn.info, scope):
                    loop_conn = LoopConnection(sync_conn)
                    yield loop_conn  # type: ignore[misc]
                    loop_conn.flush()  # deferred rows commit with the rest
        # Only reached after a successful commit.
        for callback in scope._after_commit:
            try:
                callback()
            except Exception:
                log.exception("action=after_commit_failed callback=%r", callback)

    def _writer(self) -> Connection:
        """SQLite's one write connection, kept open between transactions (see :meth:`write`).

        Checking a connection out of the pool and back in for every transaction cost more
        than the statements of a typical one; only one write transaction runs at a time, so
        one connection serves them all. A connection SQLAlchemy invalidated (an I/O error,
        say) is replaced.
        """
        conn = self._write_conn
        if conn is None or conn.closed or conn.invalidated:
            assert self._write_engine is not None
            conn = self._write_engine.connect().execution_options(sqlite_begin="BEGIN IMMEDIATE")
            self._write_conn = conn
        return conn

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
        nothing crosses processes, so nothing is heard.
        """
        if self.is_sqlite:
            yield
            return
        if self._listener is None:
            url = self.engine.url.set(drivername="postgresql")
            self._listener = Listener(url.render_as_string(hide_password=False))
        subscription = Subscription(channel, on_notify, on_connect, on_disconnect)
        async with self._listener.listening(subscription):
            yield

    def truncate_wal(self) -> None:
        """Copy SQLite's write-ahead log into the database file and empty it.

        Called after secrets were replaced (:mod:`tabhooks.store.sealing`), so the old values
        do not linger in the log; waits for readers for up to the busy timeout.
        """
        if self.database_path is None:
            return
        conn = sqlite3.connect(self.database_path, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()

    async def dispose(self) -> None:
        if self._listener is not None:
            await self._listener.close()
        if self._checkpointer is not None:
            self._checkpointer.stop()
        if self._write_conn is not None:
            self._write_conn.close()
            self._write_conn = None
        await self.engine.dispose()
        for sync_engine in (self._read_engine, self._write_engine):
            if sync_engine is not None:
                sync_engine.dispose()


class LoopConnection:
    """The part of :class:`AsyncConnection` the store uses, over a synchronous connection.

    For SQLite, where statements run on the loop thread: an indexed SQLite statement takes
    microseconds, while aiosqlite hands every cursor call to its own thread and back — several
    hand-offs per statement, measured at ten times the cost of the query.
    """

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.dialect = conn.dialect
        self.info = conn.info
        self._cursor: Any = None
        self._driver_connection: Any = None
        #: What the outbox remembers for the rest of this transaction (see
        #: :func:`tabhooks.store.outbox.emit`); a new transaction starts empty.
        self.transaction_memo: dict[Any, Any] = {}
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


def open_store(url: str, **engine_kw: Any) -> Store:
    """Create the engine for ``url`` (not yet migrated: see :func:`tabhooks.store.migrate`)."""
    target = make_url(async_url(url))
    if target.drivername.startswith("sqlite"):
        database = target.database or ""
        path: Path | None = None
        if database and database != ":memory:":
            path = Path(database).expanduser()
            path.resolve().parent.mkdir(parents=True, exist_ok=True)
            _restrict_sqlite_files(path)
        engine = create_async_engine(target, pool_size=2, max_overflow=2, **engine_kw)
        _tune_sqlite(engine.sync_engine)
        sync_url = target.set(drivername="sqlite+pysqlite")
        reader = create_engine(
            sync_url,
            pool_size=4,
            max_overflow=16,
            connect_args={"check_same_thread": False},
            # Reads run in autocommit (no BEGIN): there is no transaction to roll back.
            pool_reset_on_return=None,
        )
        _tune_sqlite_reader(reader)
        writer = create_engine(
            sync_url, pool_size=1, max_overflow=1, connect_args={"check_same_thread": False}
        )
        _tune_sqlite(writer)
        checkpointer = None
        if path is not None:
            checkpointer = WalCheckpointer(str(path))
            checkpointer.start()
        return Store(engine, reader, writer, checkpointer, path)
    engine = create_async_engine(
        target, pool_size=10, max_overflow=10, pool_pre_ping=True, **engine_kw
    )
    return Store(engine)


def _restrict_sqlite_files(path: Path) -> None:
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


def _tune_sqlite_reader(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA query_only=ON")  # this connection can never write
        cursor.execute("PRAGMA foreign_keys=ON")
        # Never block the loop for long: WAL readers only wait during rare checkpoints.
        cursor.execute(f"PRAGMA busy_timeout={_SQLITE_READ_BUSY_TIMEOUT_MS}")
        cursor.close()


def _tune_sqlite(sync_engine: Engine) -> None:
    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from the driver so BEGIN is ours to emit.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # Checkpoints run in their own thread (tabhooks.store.checkpoint), not in a commit.
        cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        statement = conn.get_execution_options().get("sqlite_begin", "BEGIN")
        if statement is not None:  # None: autocommit reads (see Store.read)
            # Straight to the driver: BEGIN needs none of SQLAlchemy's statement machinery,
            # which cost more than the BEGIN itself on every write transaction.
            cursor = conn.connection.dbapi_connection.cursor()
            try:
                cursor.execute(statement)
            finally:
                cursor.close()
