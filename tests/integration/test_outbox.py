"""The outbox writes an event and its deliveries with the change, or not at all."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from tabhooks.services.emit import emit
from tabhooks.store import webhooks as webhooks_store
from tabhooks.store.driver import DriverStatement
from tabhooks.store.tables import deliveries, events
from tests.integration.conftest import Seeded


class Boom(Exception):
    pass


async def test_emit_rolls_back_with_the_change_and_commits_with_it(seeded: Seeded) -> None:
    store, site_id, admin_id = seeded.store, seeded.site_id, seeded.admin_id
    async with store.write() as conn:
        for i, enabled in enumerate((True, True, False)):
            await webhooks_store.create(
                conn,
                site_id=site_id,
                name=f"hook-{i}",
                event="WorkbookCreated",
                url="https://hooks.example.com/",
                is_enabled=enabled,
                status_change_reason="" if enabled else "off",
                owner_id=admin_id,
            )
    store.new_work.clear()

    with pytest.raises(Boom):
        async with store.write() as conn:
            queued = await emit(
                conn, "WorkbookCreated", site_id=site_id, resource_luid="w1", resource_name="W"
            )
            assert queued == 2
            raise Boom
    async with store.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(events))).scalar() == 0
        assert (await conn.execute(select(func.count()).select_from(deliveries))).scalar() == 0
    assert not store.new_work.is_set()

    async with store.write() as conn:
        await emit(conn, "WorkbookCreated", site_id=site_id, resource_luid="w2", resource_name="W")
    assert store.new_work.is_set()
    async with store.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(events))).scalar() == 1
        rows = (await conn.execute(select(deliveries.c.status))).scalars().all()
        assert rows == ["pending", "pending"]


async def _webhook(seeded: Seeded) -> None:
    async with seeded.store.write() as conn:
        await webhooks_store.create(
            conn,
            site_id=seeded.site_id,
            name="hook",
            event="WorkbookCreated",
            url="https://hooks.example.com/",
            is_enabled=True,
            status_change_reason="",
            owner_id=seeded.admin_id,
        )


async def _counts(conn: Any) -> tuple[int, int]:
    n_events = (await conn.execute(select(func.count()).select_from(events))).scalar()
    n_deliveries = (await conn.execute(select(func.count()).select_from(deliveries))).scalar()
    return int(n_events), int(n_deliveries)


async def test_a_later_statement_in_the_transaction_sees_the_emitted_rows(seeded: Seeded) -> None:
    """On SQLite the outbox defers its inserts; nothing in the transaction may notice."""
    await _webhook(seeded)
    async with seeded.store.write() as conn:
        for n in range(3):
            await emit(
                conn, "WorkbookCreated", site_id=seeded.site_id, resource_luid=f"w{n}",
                resource_name="W",
            )  # fmt: skip
        assert await _counts(conn) == (3, 3)
        # A statement on the SQLite driver sees them too (the claim's own SELECT does).
        due = DriverStatement(select(func.count()).select_from(deliveries))
        assert (await due.execute(conn, {}))[0][0] == 3
        await emit(conn, "WorkbookCreated", site_id=seeded.site_id, resource_luid="w3",
                   resource_name="W")  # fmt: skip
    async with seeded.store.read() as conn:
        assert await _counts(conn) == (4, 4)


async def test_rows_emitted_in_a_rolled_back_savepoint_are_not_written(seeded: Seeded) -> None:
    await _webhook(seeded)
    async with seeded.store.write() as conn:
        await emit(conn, "WorkbookCreated", site_id=seeded.site_id, resource_luid="kept",
                   resource_name="W")  # fmt: skip
        with pytest.raises(Boom):
            async with conn.begin_nested():
                await emit(conn, "WorkbookCreated", site_id=seeded.site_id,
                           resource_luid="dropped", resource_name="W")  # fmt: skip
                raise Boom
        async with conn.begin_nested():
            await emit(conn, "WorkbookCreated", site_id=seeded.site_id,
                       resource_luid="nested", resource_name="W")  # fmt: skip
    async with seeded.store.read() as conn:
        luids = (await conn.execute(select(events.c.resource_luid))).scalars().all()
        assert sorted(luids) == ["kept", "nested"]
        assert await _counts(conn) == (2, 2)


async def test_an_emit_that_cannot_be_stored_fails_the_whole_transaction(seeded: Seeded) -> None:
    """An event for a site that does not exist breaks a foreign key; where the error surfaces
    (the emit on PostgreSQL, the commit on SQLite) the transaction is rolled back whole."""
    await _webhook(seeded)
    with pytest.raises(IntegrityError):
        async with seeded.store.write() as conn:
            await emit(conn, "WorkbookCreated", site_id=seeded.site_id, resource_luid="ok",
                       resource_name="W")  # fmt: skip
            await emit(conn, "WorkbookCreated", site_id=str(uuid.uuid4()),
                       resource_luid="orphan", resource_name="W")  # fmt: skip
    async with seeded.store.read() as conn:
        assert await _counts(conn) == (0, 0)
