"""Get and List Webhooks read rows as sent: database-formatted timestamps, owner joined."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from tabhooks.errors import WebhookNameConflict
from tabhooks.models import WebhookOut
from tabhooks.store import webhooks as webhooks_store
from tabhooks.store.tables import webhooks
from tabhooks.tsxml import timestamp
from tests.integration.conftest import Seeded

#: Out of insertion order, with fractions the wire format drops and one tie broken by name.
CREATED = {
    "b-late": datetime(2026, 3, 4, 23, 59, 59, 999_999, tzinfo=UTC),
    "c-early": datetime(2025, 12, 31, 0, 0, 1, 5, tzinfo=UTC),
    "a-tie": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    "a-tie-2": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
}


async def test_list_and_get_out_format_timestamps_as_tableau_and_join_owner(seeded: Seeded) -> None:
    store, site_id, admin_id = seeded.store, seeded.site_id, seeded.admin_id
    async with store.write() as conn:
        made = {}
        for name, created in CREATED.items():
            hook = await webhooks_store.create(
                conn,
                site_id=site_id,
                name=name,
                event="WorkbookCreated",
                url=f"https://hooks.example.com/{name}",
                is_enabled=name != "c-early",
                status_change_reason="" if name != "c-early" else "off",
                owner_id=admin_id if name != "a-tie-2" else None,
            )
            await conn.execute(
                update(webhooks)
                .where(webhooks.c.id == hook.id)
                .values(created_at=created, updated_at=created.replace(year=2027))
            )
            made[name] = hook.id

    async with store.read() as conn:
        listed = await webhooks_store.list_for_site(conn, site_id)
        got = await webhooks_store.get_out(conn, site_id, made["b-late"])
        missing = await webhooks_store.get_out(conn, site_id, "no-such-id")
        other_site = await webhooks_store.get_out(conn, "no-such-site", made["b-late"])

    names = [w[1] for w in listed]
    assert names == ["c-early", "a-tie", "a-tie-2", "b-late"]
    for out in listed:
        assert len(out) == len(WebhookOut.__args__)  # type: ignore[attr-defined]
        created = CREATED[out[1]]
        assert out[9] == timestamp(created)
        assert out[10] == timestamp(created.replace(year=2027))
    early, tie, tie_2, late = (tuple(w) for w in listed)
    assert early[9] == "2025-12-31T00:00:01Z"
    assert early[5:7] == (False, "off")
    assert tie[5] is True
    assert tie[8] == "admin"
    assert tie_2[7:9] == (None, None)
    assert got is not None and tuple(got) == late
    assert late[9] == "2026-03-04T23:59:59Z"
    assert late[:5] == (
        made["b-late"],
        "b-late",
        "WorkbookCreated",
        "https://hooks.example.com/b-late",
        "POST",
    )
    assert missing is None and other_site is None


async def test_create_with_a_taken_name_is_a_conflict(seeded: Seeded) -> None:
    store, site_id = seeded.store, seeded.site_id
    values = {
        "site_id": site_id,
        "name": "taken",
        "event": "WorkbookCreated",
        "url": "https://hooks.example.com/",
        "is_enabled": True,
        "status_change_reason": "",
        "owner_id": None,
    }
    async with store.write() as conn:
        first = await webhooks_store.create(conn, **values)  # type: ignore[arg-type]
    with pytest.raises(WebhookNameConflict):
        async with store.write() as conn:
            await webhooks_store.create(conn, **values)  # type: ignore[arg-type]
    async with store.read() as conn:
        listed = await webhooks_store.list_for_site(conn, site_id)
    assert [w[0] for w in listed] == [first.id]
