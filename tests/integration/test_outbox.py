"""The outbox writes an event and its deliveries with the change, or not at all."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tabhooks.services.emit import emit
from tabhooks.store import webhooks as webhooks_store
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
