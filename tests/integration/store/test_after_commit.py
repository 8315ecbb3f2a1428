"""A write transaction runs its after-commit callbacks once it has committed, never after a
rollback, in the order they were registered; and the outbox hands deliveries only to the port
connected to that store."""

from __future__ import annotations

import pytest

from tabhooks.services.emit import emit
from tabhooks.store import Store, outbox
from tabhooks.store import webhooks as webhooks_store
from tabhooks.store.deliveries import Claimed
from tabhooks.store.engine import after_commit, write_scope
from tests.integration.conftest import Seeded


async def test_callbacks_run_after_commit_in_order_and_never_after_rollback(
    seeded: Seeded,
) -> None:
    ran: list[str] = []
    async with seeded.store.write() as conn:
        after_commit(conn, lambda: ran.append("first"))
        after_commit(conn, lambda: ran.append("second"))
        assert ran == []  # not before the commit
        assert write_scope(conn).store is seeded.store
    assert ran == ["first", "second"]

    with pytest.raises(RuntimeError, match="boom"):
        async with seeded.store.write() as conn:
            after_commit(conn, lambda: ran.append("rolled back"))
            raise RuntimeError("boom")
    assert ran == ["first", "second"]

    async with seeded.store.write() as conn:
        assert write_scope(conn).values == {}  # nothing carried over from the last one


async def test_a_raising_callback_does_not_undo_the_commit_or_stop_the_others(
    seeded: Seeded,
) -> None:
    ran: list[str] = []

    def fail() -> None:
        raise ValueError("after commit")

    async with seeded.store.write() as conn:
        after_commit(conn, fail)
        after_commit(conn, lambda: ran.append("still runs"))
    assert ran == ["still runs"]


class _Port:
    """A hand-off port that takes everything and records what was delivered after commit."""

    worker_id = "wrk_test"

    def __init__(self) -> None:
        self.opened = 0
        self.delivered: list[str] = []

    def open_handoff(self) -> _Port.Batch:
        self.opened += 1
        return _Port.Batch(self)

    class Batch:
        wake_needed = False

        def __init__(self, port: _Port) -> None:
            from tabhooks.store.tables import utcnow_precise

            self.port = port
            self.worker_id = port.worker_id
            self.lease_until = utcnow_precise()
            self.taken: list[str] = []

        def offer(self, claimed: Claimed) -> bool:
            self.taken.append(claimed.id)
            return True

        def deliver(self) -> None:
            self.port.delivered.extend(self.taken)


async def _emit_one(store: Store, seeded: Seeded, fail: bool = False) -> None:
    async with store.write() as conn:
        await emit(conn, "WorkbookCreated", site_id=seeded.site_id, resource_luid="x",
                   resource_name="W")  # fmt: skip
        if fail:
            raise RuntimeError("rolled back")


async def test_the_outbox_hands_over_through_the_connected_port_after_commit_only(
    seeded: Seeded,
) -> None:
    async with seeded.store.write() as conn:
        await webhooks_store.create(
            conn, site_id=seeded.site_id, name="h", event="WorkbookCreated",
            url="http://127.0.0.1:9/hook", is_enabled=True, status_change_reason="",
            owner_id=seeded.admin_id,
        )  # fmt: skip
    port = _Port()
    await _emit_one(seeded.store, seeded)  # nothing connected: nothing offered
    outbox.connect(seeded.store, port)
    try:
        with pytest.raises(RuntimeError):
            await _emit_one(seeded.store, seeded, fail=True)
        assert (port.opened, port.delivered) == (1, [])  # offered, rolled back, never handed
        await _emit_one(seeded.store, seeded)
        assert port.opened == 2 and len(port.delivered) == 1
    finally:
        outbox.connect(seeded.store, None)
    await _emit_one(seeded.store, seeded)
    assert port.opened == 2
