"""Alembic's ``upgrade head`` builds exactly the schema ``store/tables.py`` declares."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

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
