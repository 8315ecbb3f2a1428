"""The dispatcher with a real store and real receivers: hand-off, lines and a dead destination.

These drive :class:`Dispatcher` directly (not through the HTTP API), so the tests can look at
the queue rows between steps: what a committed emit leaves in the store, and what a full line
leaves for later.
"""

from __future__ import annotations

import asyncio
import json

from tabhooks.delivery import signing
from tabhooks.delivery.dispatcher import Dispatcher
from tabhooks.services.emit import emit
from tabhooks.store import secrets as secrets_store
from tabhooks.store import webhooks as webhooks_store
from tabhooks.store.tables import utcnow_precise
from tests.integration.delivery.conftest import (
    EVENT,
    Dispatching,
    Endpoint,
    Endpoints,
    Rig,
    until,
)


async def test_an_emitted_delivery_is_written_leased_and_sent_after_commit(
    rig: Rig, dispatching: Dispatching, endpoints: Endpoints
) -> None:
    receiver: Endpoint = await endpoints(False)  # holds the answer until the gate opens
    webhook_id = await rig.webhook("held", receiver.url)
    dispatcher: Dispatcher = await dispatching()

    await rig.emit()
    # Already leased to this dispatcher by the emitting transaction: no claim was needed.
    assert [tuple(r) for r in await rig.rows(webhook_id)] == [("delivering", dispatcher.worker_id)]

    async def arrived() -> bool:
        return receiver.arrived == 1

    await until(arrived)
    receiver.gate.set()

    async def succeeded() -> bool:
        return [tuple(r) for r in await rig.rows(webhook_id)] == [("succeeded", None)]

    await until(succeeded)


async def test_a_dead_destination_holds_only_its_slots_and_its_line(
    rig: Rig, dispatching: Dispatching, endpoints: Endpoints
) -> None:
    dead: Endpoint = await endpoints(False)
    live: Endpoint = await endpoints(True)
    dead_id = await rig.webhook("dead", dead.url)
    await rig.webhook("live", live.url)
    # No timed polls: on PostgreSQL a claim can run between the emit's commit and the
    # hand-off's after-commit step and put up to a batch into a line (bounded, and not what
    # this test is about). The claims below are woken by hand, after the hand-off.
    await dispatching(per_destination=2, line_limit=5, poll_interval_s=60)

    await rig.emit(20)

    async def all_live_arrived() -> bool:
        return live.arrived == 20

    await until(all_live_arrived)
    for _ in range(5):  # claims, as commits elsewhere wake them: none may take the dead rows
        rig.store.new_work.set()
        await asyncio.sleep(0.1)
    assert (dead.arrived, dead.most_in_flight) == (2, 2)
    rows = [tuple(r) for r in await rig.rows(dead_id)]
    held = [r for r in rows if r[0] == "delivering"]
    left = [r for r in rows if r == ("pending", None)]
    # Two in flight and five waiting in the line, leased; the rest wait in the store.
    assert (len(held), len(left)) == (7, 13)

    dead.gate.set()  # the destination recovers: its line drains and the store's rows follow

    async def all_dead_arrived() -> bool:
        return dead.arrived == 20

    await until(all_dead_arrived)


async def test_one_transaction_sees_every_webhook_change_made_between_its_events(
    rig: Rig, dispatching: Dispatching, endpoints: Endpoints
) -> None:
    """Subscribers are remembered within a transaction only until something else writes."""
    first_end: Endpoint = await endpoints(True)
    second_end: Endpoint = await endpoints(True)
    first = await rig.webhook("first", first_end.url)
    await dispatching()

    async with rig.store.write() as conn:

        async def fire(n: int) -> int:
            return await emit(
                conn, EVENT, site_id=rig.site_id, resource_luid=f"e{n}", resource_name="W"
            )

        assert await fire(1) == 1
        second = await webhooks_store.create(
            conn,
            site_id=rig.site_id,
            name="second",
            event=EVENT,
            url=second_end.url,
            is_enabled=True,
            status_change_reason="",
            owner_id=rig.owner_id,
        )
        assert await fire(2) == 2
        await secrets_store.rotate(
            conn, first, secret=signing.generate_secret(), old_expires_at=utcnow_precise()
        )
        assert await fire(3) == 2
        await webhooks_store.change(conn, rig.site_id, second.id, is_enabled=False)
        assert await fire(4) == 1

    async def all_arrived() -> bool:
        return (first_end.arrived, second_end.arrived) == (4, 2)

    await until(all_arrived)

    def marker(body: bytes) -> str:
        return str(json.loads(body)["resource_luid"])

    signed = {marker(body): "webhook-signature" in headers for headers, body in first_end.requests}
    assert signed == {"e1": False, "e2": False, "e3": True, "e4": True}
    assert sorted(marker(body) for _, body in second_end.requests) == ["e2", "e3"]
