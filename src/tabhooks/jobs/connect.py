"""Really reaching the data behind a connection, the way an extract refresh would.

PostgreSQL is connected to with psycopg and the embedded credentials; SQLite files are opened
read-only and queried; text (CSV) files are opened and read. Each fails exactly when the
connection would fail for Tableau: wrong password, unreachable host, missing file.
Connection classes tabhooks cannot reach (SQL Server, Snowflake, ...) and self-contained
extracts (.hyper) succeed after a short simulated extract; the job notes say so.
"""

from __future__ import annotations

import asyncio
import csv
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tabhooks.models import Connection

CONNECT_TIMEOUT_S = 10
#: How long a simulated extract takes, so Started and Succeeded are distinct moments.
SIMULATED_EXTRACT_S = 0.2
_EXTRACT_CLASSES = frozenset({"hyper", "dataengine", "tde", "parquet"})
_TEXT_CLASSES = frozenset({"textscan", "textclean"})


@dataclass(frozen=True, slots=True)
class Probe:
    """How reaching one connection went."""

    ok: bool
    note: str


def _postgres(connection: Connection) -> Probe:
    try:
        with psycopg.connect(
            host=connection.server_address or "localhost",
            port=int(connection.server_port or 5432),
            dbname=connection.dbname or "postgres",
            user=connection.username or None,
            password=connection.password if connection.embed_password else None,
            connect_timeout=CONNECT_TIMEOUT_S,
        ) as conn:
            conn.execute("SELECT 1")
    except (psycopg.Error, ValueError, OSError) as exc:
        return Probe(False, f"postgres://{connection.server_address}: {str(exc).strip()}")
    return Probe(True, f"postgres://{connection.server_address}/{connection.dbname}: connected")


def _sqlite(connection: Connection) -> Probe:
    path = Path(connection.filename)
    if not connection.filename or not path.is_file():
        return Probe(False, f"sqlite: file not found: {connection.filename or '(no filename)'}")
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=CONNECT_TIMEOUT_S) as db:
            tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    except sqlite3.Error as exc:
        return Probe(False, f"sqlite: {path}: {exc}")
    return Probe(True, f"sqlite: {path}: {tables} schema objects")


def _text(connection: Connection) -> Probe:
    path = Path(connection.filename)
    if not connection.filename or not path.is_file():
        return Probe(False, f"text: file not found: {connection.filename or '(no filename)'}")
    try:
        with path.open(newline="", encoding="utf-8", errors="replace") as handle:
            rows = sum(1 for _ in csv.reader(handle))
    except OSError as exc:
        return Probe(False, f"text: {path}: {exc}")
    return Probe(True, f"text: {path}: {rows} rows")


async def probe(connection: Connection) -> Probe:
    kind = connection.type.lower()
    if kind in ("postgres", "postgresql"):
        return await asyncio.to_thread(_postgres, connection)
    if kind == "sqlite":
        return await asyncio.to_thread(_sqlite, connection)
    if kind in _TEXT_CLASSES:
        return await asyncio.to_thread(_text, connection)
    await asyncio.sleep(SIMULATED_EXTRACT_S)
    if kind in _EXTRACT_CLASSES:
        return Probe(True, f"{kind}: extract refreshed (self-contained)")
    return Probe(True, f"{kind}: simulated extract (tabhooks cannot reach this connection class)")


async def refresh(connections: list[Connection]) -> tuple[bool, str]:
    """Try every connection; the refresh fails if any does. Returns (ok, notes)."""
    if not connections:
        await asyncio.sleep(SIMULATED_EXTRACT_S)
        return True, "no connections: simulated extract"
    probes = [await probe(c) for c in connections]
    failed = [p.note for p in probes if not p.ok]
    if failed:
        return False, "; ".join(failed)
    return True, "; ".join(p.note for p in probes)
