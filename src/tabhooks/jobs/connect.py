"""Really reaching the data behind a connection, the way an extract refresh would.

PostgreSQL is connected to with psycopg and the embedded credentials; SQLite files are opened
read-only and queried; text (CSV) files are opened and read. Each fails exactly when the
connection would fail for Tableau: wrong password, unreachable host, missing file.
Connection classes tabhooks cannot reach (SQL Server, Snowflake, ...) and self-contained
extracts (.hyper) succeed after a short simulated extract; the job notes say so.

What may be reached is :mod:`tabhooks.jobs.reach`'s decision. The notes a failure leaves are
read by whoever may see the job, so they say *what kind* of failure it was ("connection
refused", "authentication failed", "not a PostgreSQL server") and never repeat what the other
end sent: a host that is not a database answers with its own bytes, and libpq quotes them.

Nothing here blocks the event loop, and every check stops as soon as its job does (timed out,
cancelled, lease lost): PostgreSQL is reached with psycopg's asynchronous connection, whose
socket is closed when the check is cancelled; host names are resolved, and files opened and
read, on the runner's own threads (:mod:`.offload`), which give up when abandoned.
"""

from __future__ import annotations

import asyncio
import csv
import os
import socket
import sqlite3
from collections.abc import Awaitable, Callable
from contextlib import closing
from dataclasses import dataclass
from urllib.parse import quote

import psycopg
from psycopg.conninfo import make_conninfo

from tabhooks.jobs.offload import Abandoned, Offload
from tabhooks.jobs.reach import DatabaseTarget, ReachPolicy, Unreachable
from tabhooks.models import Connection

#: How long a simulated extract takes, so Started and Succeeded are distinct moments.
SIMULATED_EXTRACT_S = 0.2
_EXTRACT_CLASSES = frozenset({"hyper", "dataengine", "tde", "parquet"})
_TEXT_CLASSES = frozenset({"textscan", "textclean"})
#: A password file that can never exist (its parent is not a folder): the server's own
#: ~/.pgpass must not supply a password to a host a Creator chose. libpq skips it silently.
_NO_PASSFILE = os.path.join(os.devnull, "no-pgpass")
#: SQLite virtual-machine steps between two looks at whether the check was abandoned.
_SQLITE_STEPS = 10_000
#: CSV rows read between two looks at whether the check was abandoned.
_TEXT_ROWS = 4_096

#: Failure classes, recognised in libpq's (and psycopg's) own messages, first match wins.
#: Everything after "failed:" in libpq's text may come from the other end, so it is only
#: matched against, never shown. A server answering in another language than English gets
#: the generic class.
_POSTGRES_FAILURES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("connection refused", ("connection refused",)),
    ("timed out", ("timeout expired", "timed out")),
    ("host not found", ("failed to resolve host", "could not translate host name")),
    ("host unreachable", ("no route to host", "network is unreachable")),
    ("authentication failed (no password embedded)", ("no password supplied",)),
    ("authentication failed", ("authentication failed", "no pg_hba.conf entry", 'role "')),
    ("database does not exist", ('database "',)),
    (
        "not a PostgreSQL server",
        (
            "invalid response to ssl negotiation",
            "expected authentication request",
            "server closed the connection unexpectedly",
            "unexpected message",
            "invalid message",
            "received invalid",
            "bad message",
            "unsupported frontend protocol",
        ),
    ),
)
#: A server that answered with an error of its own (FATAL/ERROR) we have no class for.
_SERVER_REFUSED = "refused by the server"


@dataclass(frozen=True, slots=True)
class Probe:
    """How reaching one connection went."""

    ok: bool
    note: str


def postgres_failure(exc: psycopg.Error) -> str:
    """The class of a failed connection attempt, in words of our own."""
    if isinstance(exc, psycopg.errors.ConnectionTimeout):
        return "timed out"
    text = str(exc).lower()
    for failure, phrases in _POSTGRES_FAILURES:
        if any(phrase in text for phrase in phrases):
            return failure
    if "fatal:" in text or "error:" in text:
        return _SERVER_REFUSED
    return "connection failed"


def _resolved(policy: ReachPolicy, host: str, port: int, abandoned: Abandoned) -> DatabaseTarget:
    """The policy's target, with its addresses looked up here when the policy left that to
    the driver: libpq would resolve the name inside its (otherwise non-blocking) connect, and
    psycopg in the loop's default executor. Blocking: run on the runner's threads."""
    target = policy.database_target(host, port)
    if target.addresses or abandoned.is_set():
        return target
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise Unreachable("host not found") from exc
    addresses = tuple(dict.fromkeys(str(answer[4][0]) for answer in answers))
    if not addresses:
        raise Unreachable("host not found")
    return DatabaseTarget(target.host, port, addresses)


async def _postgres(connection: Connection, policy: ReachPolicy, offload: Offload) -> Probe:
    where = f"postgres://{connection.server_address}"
    try:
        port = int(connection.server_port or 5432)
        if not 0 < port < 65536:
            raise ValueError(port)
    except ValueError:
        return Probe(False, f"{where}: the port is not a number from 1 to 65535")
    host = connection.server_address or "localhost"
    try:
        target = await offload.run(lambda abandoned: _resolved(policy, host, port, abandoned))
    except Unreachable as exc:
        return Probe(False, f"{where}: {exc}")
    # Exactly the checked addresses: no second DNS answer can point somewhere else, and the
    # driver never resolves (which would block).
    count = len(target.addresses)
    params: dict[str, str] = {
        "host": ",".join([target.host] * count),
        "hostaddr": ",".join(target.addresses),
        "port": ",".join([str(target.port)] * count),
        "dbname": connection.dbname or "postgres",
        # "" rather than nothing: libpq would otherwise take PGPASSWORD from our environment.
        "password": connection.password if connection.embed_password else "",
        "passfile": _NO_PASSFILE,
        "connect_timeout": str(policy.connect_timeout_s),
    }
    if connection.username:
        params["user"] = connection.username
    try:
        conn = await psycopg.AsyncConnection.connect(make_conninfo("", **params))
        async with conn:
            await conn.execute("SELECT 1")
    except psycopg.Error as exc:
        failure = postgres_failure(exc)
        # psycopg raises a failed connect from a frame that holds the exception and the
        # abandoned attempt (with its socket): a cycle only the garbage collector breaks,
        # which kept the socket of a timed-out attempt open for minutes. Dropping the
        # traceback frees the attempt, and so closes the socket, now.
        exc.__traceback__ = None
        return Probe(False, f"{where}: {failure}")
    return Probe(True, f"{where}/{connection.dbname}: connected")


def _sqlite(connection: Connection, policy: ReachPolicy, abandoned: Abandoned) -> Probe:
    name = connection.filename
    try:
        path = policy.connection_file(name)
    except Unreachable as exc:
        return Probe(False, f"sqlite: {exc}")
    if not path.is_file():
        return Probe(False, f"sqlite: file not found: {name}")
    uri = f"file:{quote(str(path))}?mode=ro"
    try:
        with closing(sqlite3.connect(uri, uri=True, timeout=policy.connect_timeout_s)) as db:
            # A non-zero answer interrupts the statement once nobody waits for it.
            db.set_progress_handler(abandoned.is_set, _SQLITE_STEPS)
            tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    except sqlite3.Error as exc:
        return Probe(False, f"sqlite: {name}: {exc}")
    return Probe(True, f"sqlite: {name}: {tables} schema objects")


def _text(connection: Connection, policy: ReachPolicy, abandoned: Abandoned) -> Probe:
    name = connection.filename
    try:
        path = policy.connection_file(name)
    except Unreachable as exc:
        return Probe(False, f"text: {exc}")
    if not path.is_file():
        return Probe(False, f"text: file not found: {name}")
    rows = 0
    try:
        # The resolved path, not the name: nothing swapped in after the check is followed.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with open(fd, newline="", encoding="utf-8", errors="replace") as handle:
            for _ in csv.reader(handle):
                rows += 1
                if rows % _TEXT_ROWS == 0 and abandoned.is_set():
                    return Probe(False, f"text: {name}: abandoned")
    except OSError as exc:
        return Probe(False, f"text: {name}: {exc.strerror or 'cannot be read'}")
    return Probe(True, f"text: {name}: {rows} rows")


async def probe(connection: Connection, policy: ReachPolicy, offload: Offload) -> Probe:
    """Reach one connection as a refresh would, within ``policy``; blocking parts run on
    ``offload``'s threads."""
    kind = connection.type.lower()
    if kind in ("postgres", "postgresql"):
        return await _postgres(connection, policy, offload)
    if kind == "sqlite":
        return await offload.run(lambda abandoned: _sqlite(connection, policy, abandoned))
    if kind in _TEXT_CLASSES:
        return await offload.run(lambda abandoned: _text(connection, policy, abandoned))
    await asyncio.sleep(SIMULATED_EXTRACT_S)
    if kind in _EXTRACT_CLASSES:
        return Probe(True, f"{kind}: extract refreshed (self-contained)")
    return Probe(True, f"{kind}: simulated extract (tabhooks cannot reach this connection class)")


#: Told how many connections of how many a refresh has reached, after each one.
Progress = Callable[[int, int], Awaitable[None]]


async def refresh(
    connections: list[Connection],
    policy: ReachPolicy,
    offload: Offload,
    progress: Progress | None = None,
) -> tuple[bool, str]:
    """Try every connection; the refresh fails if any does. Returns (ok, notes)."""
    if not connections:
        await asyncio.sleep(SIMULATED_EXTRACT_S)
        return True, "no connections: simulated extract"
    probes: list[Probe] = []
    task = asyncio.current_task()
    for connection in connections:
        probes.append(await probe(connection, policy, offload))
        if task is not None and task.cancelling():
            # Cancelled (the job was, or it timed out) while a driver turned the cancellation
            # into an error of its own (psycopg's connect does): reach nothing more.
            raise asyncio.CancelledError
        if progress is not None:
            await progress(len(probes), len(connections))
    failed = [p.note for p in probes if not p.ok]
    if failed:
        return False, "; ".join(failed)
    return True, "; ".join(p.note for p in probes)
