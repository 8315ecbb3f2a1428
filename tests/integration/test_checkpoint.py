"""SQLite's log is copied back by the store's checkpoint thread, never inside a commit, and
stays bounded however long writes go on."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import uuid
from pathlib import Path

from sqlalchemy import text

from tabhooks.store import Store, migrate, open_store
from tabhooks.store.checkpoint import LOG_BOUND_BYTES, WalCheckpointer
from tabhooks.store.sqlite import SQLiteBackend


async def test_commits_leave_the_log_to_the_checkpoint_thread(tmp_path: Path) -> None:
    database = tmp_path / "wal.db"
    store = open_store(f"sqlite:///{database}")
    try:
        await migrate(store)
        async with store.write() as conn:
            assert (await conn.execute(text("PRAGMA wal_autocheckpoint"))).scalar() == 0
            # Far more than the 1,000 pages at which a commit would checkpoint by itself.
            await conn.execute(text("CREATE TABLE filler (body TEXT)"))
            await conn.execute(
                text("INSERT INTO filler (body) VALUES (:body)"),
                [{"body": uuid.uuid4().hex * 32} for _ in range(5000)],
            )
        # Until a checkpoint copies the log back, the rows are only in the -wal file.
        deadline = asyncio.get_running_loop().time() + 10
        while database.stat().st_size < 4 * 1024 * 1024:
            assert asyncio.get_running_loop().time() < deadline, "the log was never copied back"
            await asyncio.sleep(0.1)
    finally:
        await store.dispose()


async def test_sustained_writes_keep_the_log_bounded(tmp_path: Path) -> None:
    """A writer that never pauses long still lets the log start over, again and again, so the
    file stays near its bound however much is written. Checkpointing only once a second, it
    never started over: the file grew by every page committed."""
    database = tmp_path / "wal.db"
    log_file = tmp_path / "wal.db-wal"
    store = open_store(f"sqlite:///{database}")
    try:
        await migrate(store)
        async with store.write() as conn:
            await conn.execute(text("CREATE TABLE filler (body BLOB)"))
        written = largest = 0
        starts = {_log_generation(log_file)}
        while written < 4 * LOG_BOUND_BYTES:
            await _write_some(store)
            written += _BATCH_BYTES
            largest = max(largest, log_file.stat().st_size)
            starts.add(_log_generation(log_file))
            await asyncio.sleep(0.002)  # the event loop serving other work between commits
        assert len(starts) >= 3, f"the log started over {len(starts) - 1} times"
        # Truncated back to the bound when it starts over, it grows past it by a pass or so.
        assert log_file.stat().st_size < 2 * LOG_BOUND_BYTES
        assert largest < written / 2
    finally:
        await store.dispose()


async def test_a_reader_holding_the_log_does_not_make_every_writer_wait(tmp_path: Path) -> None:
    """While a reader keeps old frames in the log, no pass can copy them all: writers wait for
    a pass once per bound the log grows, not once each; when the reader lets go, the log
    starts over again."""
    database = tmp_path / "wal.db"
    log_file = tmp_path / "wal.db-wal"
    store = open_store(f"sqlite:///{database}")
    reader = sqlite3.connect(database, isolation_level=None)
    try:
        await migrate(store)
        assert isinstance(store.backend, SQLiteBackend)
        checkpointer = store.backend.checkpointer
        assert checkpointer is not None
        async with store.write() as conn:
            await conn.execute(text("CREATE TABLE filler (body BLOB)"))
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM filler").fetchall()  # holds this snapshot
        written = transactions = 0
        while written < 3 * LOG_BOUND_BYTES:
            await _write_some(store)
            written += _BATCH_BYTES
            transactions += 1
            await asyncio.sleep(0.002)
        assert checkpointer.catch_ups <= written // LOG_BOUND_BYTES + 1, (
            checkpointer.catch_ups,
            transactions,
        )
        reader.execute("ROLLBACK")
        held = _log_generation(log_file)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while _log_generation(log_file) == held:
            assert loop.time() < deadline, "the log never started over after the reader left"
            await _write_some(store)
            await asyncio.sleep(0.002)
    finally:
        reader.close()
        await store.dispose()


_BATCH_BYTES = 32 * 2000


async def _write_some(store: Store) -> None:
    async with store.write() as conn:
        await conn.execute(
            text("INSERT INTO filler (body) VALUES (:body)"),
            [{"body": os.urandom(2000)} for _ in range(32)],
        )


def _log_generation(log_file: Path) -> int:
    """The log's checkpoint sequence number (bytes 12-15 of its header, big-endian): SQLite
    adds one each time the log starts over from its beginning."""
    with log_file.open("rb") as f:
        return int.from_bytes(f.read(16)[12:16], "big")


def test_a_checkpoint_of_a_missing_database_is_logged_not_raised(tmp_path: Path) -> None:
    checkpointer = WalCheckpointer(str(tmp_path / "nowhere" / "x.db"), interval_s=0.01)
    checkpointer.start()  # its thread cannot even open the file: it must end quietly
    checkpointer.stop()
