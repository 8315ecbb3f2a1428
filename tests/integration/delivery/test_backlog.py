"""Work piled up in the store: a destination's line keeps all its slots busy until the backlog
is gone, no row is claimed only to be handed back, and a dead destination's backlog leaves
the others alone — on SQLite with its one dispatcher, and on PostgreSQL with two sharing the
queue.

The work is queued before any dispatcher starts (a worker that was down, or a burst the
hand-off had no room for), so everything goes through claims and pulls. Speed is never
asserted; the claim counts come from the dispatchers' own metrics (``/metrics``).
"""

from __future__ import annotations

from tabhooks.delivery.dispatcher import Dispatcher
from tests.integration.delivery.conftest import Dispatching, Endpoints, Rig, until

PER_DESTINATION = 4
LINE = 16
BATCH = 50
OTHER_EVENT = "WorkbookUpdated"


def _workers(backend: str) -> int:
    """Dispatchers sharing the queue: PostgreSQL's claims let several run side by side."""
    return 2 if backend == "postgres" else 1


def _claimed(dispatchers: list[Dispatcher]) -> int:
    return sum(sum(d.metrics.claimed_rows.values()) for d in dispatchers)


async def test_a_backlog_far_larger_than_a_line_drains_with_every_slot_in_use(
    backend: str, rig: Rig, dispatching: Dispatching, endpoints: Endpoints
) -> None:
    """600 deliveries for one destination whose line holds 20: all arrive, each once, with
    every slot of every dispatcher in use, and each row was claimed exactly once.

    The poll interval is far longer than the test: a line that ran dry and waited for the
    next poll instead of pulling its next rows would not finish in time.
    """
    workers = _workers(backend)
    receiver = await endpoints(True, delay_s=0.01)
    await rig.webhooks([(f"hook{i}", f"{receiver.base}/hook/{i}") for i in range(20)])
    await rig.emit(30, per_transaction=10)
    total = 20 * 30
    started = [
        await dispatching(
            per_destination=PER_DESTINATION, line_limit=LINE, batch_size=20, poll_interval_s=60
        )
        for _ in range(workers)
    ]

    async def all_arrived() -> bool:
        return receiver.arrived >= total

    await until(all_arrived, timeout_s=45)

    async def all_succeeded() -> bool:
        return await rig.by_status() == {"succeeded": total}

    await until(all_succeeded)
    assert len(set(receiver.webhook_ids())) == receiver.arrived == total
    # Every slot in use, and never more: the per-destination limit holds per dispatcher.
    assert receiver.most_in_flight == PER_DESTINATION * workers
    # No row claimed twice: nothing was claimed only to be handed back and claimed again.
    assert _claimed(started) == total
    assert [d.metrics.handed_back for d in started] == [0] * workers
    # Lines took their own rows in batches; the loop did not spin on rows it could not take.
    claims = sum(sum(d.metrics.claims.values()) for d in started)
    assert claims <= total // (LINE // 2) + 10 * workers, [d.metrics.claims for d in started]


async def test_a_dead_destination_with_a_10k_backlog_does_not_slow_a_healthy_one(
    backend: str, rig: Rig, dispatching: Dispatching, endpoints: Endpoints
) -> None:
    """10,000 deliveries queued for a destination that never answers, older than 200 for a
    healthy one: the healthy ones all arrive while the dead destination holds only its slots
    and its line, and the rest of its backlog stays in the store, unclaimed."""
    workers = _workers(backend)
    dead = await endpoints(False)
    live = await endpoints(True)
    dead_hooks = await rig.webhooks([(f"dead{i}", f"{dead.base}/hook/{i}") for i in range(100)])
    await rig.emit(100, per_transaction=20)
    live_hook = await rig.webhook("live", live.url, event=OTHER_EVENT)
    await rig.emit(200, event=OTHER_EVENT, per_transaction=50)
    started = [
        # Attempts outlast the test, so the dead destination's slots stay taken throughout.
        await dispatching(
            per_destination=PER_DESTINATION,
            line_limit=LINE,
            batch_size=BATCH,
            attempt_timeout_s=60.0,
            lease_s=120.0,
        )
        for _ in range(workers)
    ]

    async def live_done() -> bool:
        return await rig.by_status([live_hook]) == {"succeeded": 200}

    await until(live_done, timeout_s=45)
    assert live.arrived == 200
    # The dead destination: its slots taken, its line full, nothing beyond that claimed. (A
    # claim that meets a destination before it has a line may put up to one batch into it.)
    assert dead.arrived == dead.most_in_flight == PER_DESTINATION * workers
    held_at_most = workers * (PER_DESTINATION + LINE + BATCH)
    dead_rows = await rig.by_status(dead_hooks)
    assert dead_rows.get("pending", 0) >= 10_000 - held_at_most, dead_rows
    assert dead_rows.get("delivering", 0) <= held_at_most, dead_rows
    assert _claimed(started) <= 200 + held_at_most
    assert [d.metrics.handed_back for d in started] == [0] * workers
