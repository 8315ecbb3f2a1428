"""Alembic's ``upgrade head`` builds exactly the schema ``store/tables.py`` declares."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from tabhooks.store import migrate, open_store
from tabhooks.store.tables import metadata
from tests.conftest import database_url_for


async def test_upgrade_head_matches_metadata(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    store = open_store(database_url_for(backend, request, tmp_path))
    try:
        await migrate(store)
        await migrate(store)  # idempotent
        async with store.read() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
            )
        assert diff == []
    finally:
        await store.dispose()


async def test_relay_target_index_leaves_webhook_deliveries_out(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Migration 0019: only relay deliveries are in the relay target index (a webhook
    delivery's NULL cost an index insert per delivery), on both back ends."""
    store = open_store(database_url_for(backend, request, tmp_path))
    try:
        await migrate(store)
        async with store.read() as conn:
            indexes = await conn.run_sync(lambda sync: inspect(sync).get_indexes("deliveries"))
        (index,) = [i for i in indexes if i["column_names"] == ["relay_target_id"]]
        where = index["dialect_options"][
            f"{'postgresql' if backend == 'postgres' else 'sqlite'}_where"
        ]
        assert str(where).strip("()") == "relay_target_id IS NOT NULL"
    finally:
        await store.dispose()
