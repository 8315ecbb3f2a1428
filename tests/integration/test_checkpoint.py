"""SQLite's log is copied back by the store's checkpoint thread, never inside a commit."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from sqlalchemy import text

from tabhooks.store import migrate, open_store
from tabhooks.store.checkpoint import WalCheckpointer


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


def test_a_checkpoint_of_a_missing_database_is_logged_not_raised(tmp_path: Path) -> None:
    checkpointer = WalCheckpointer(str(tmp_path / "nowhere" / "x.db"), interval_s=0.01)
    checkpointer.start()  # its thread cannot even open the file: it must end quietly
    checkpointer.stop()
