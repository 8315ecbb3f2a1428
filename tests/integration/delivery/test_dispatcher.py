"""The dispatcher with a real store and real receivers: hand-off, lines and a dead destination.

These drive :class:`Dispatcher` directly (not through the HTTP API), so the tests can look at
the queue rows between steps: what a committed emit leaves in the store, and what a full line
leaves for later.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from tabhooks.delivery import signing
from tabhooks.delivery.dispatcher import Dispatcher, DispatcherOptions
from tabhooks.delivery.guard import DestinationPolicy
from tabhooks.delivery.retry import RetryPolicy
from tabhooks.delivery.sender import Sender
from tabhooks.services.emit import emit
from tabhooks.store import Store
from tabhooks.store import secrets as secrets_store
from tabhooks.store import webhooks as webhooks_store
from tabhooks.store.tables import deliveries, utcnow_precise
from tests.integration.conftest import Seeded

LOCAL_POLICY = DestinationPolicy(allow_http=True, allow_private=True)
EVENT = "WorkbookCreated"


@dataclass
class Endpoint:
    """One real receiver on its own port; ``gate`` holds every answer until it is set."""

    url: str = ""
    arrived: int = 0
    in_flight: int = 0
    most_in_flight: int = 0
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    #: Every request's headers and body, in arrival order.
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
async def endpoints() -> AsyncIterator[Callable[[bool], Any]]:
    runners: list[web.AppRunner] = []

    async def start(answering: bool) -> Endpoint:
        state = Endpoint()
        if answering:
            state.gate.set()

        async def hook(request: web.Request) -> web.Response:
            state.requests.append((dict(request.headers), await request.read()))
            state.arrived += 1
            state.in_flight += 1
            state.most_in_flight = max(state.most_in_flight, state.in_flight)
            try:
                await state.gate.wait()  # a black hole never answers
            finally:
                state.in_flight -= 1
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_post("/hook", hook)
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        state.url = f"http://127.0.0.1:{port}/hook"
        runners.append(runner)
        return state

    yield start
    for runner in runners:
        await runner.cleanup()


@dataclass
class Rig:
    store: Store
    site_id: str
    owner_id: str

    async def webhook(self, name: str, url: str) -> str:
        async with self.store.write() as conn:
            hook = await webhooks_store.create(
                conn,
                site_id=self.site_id,
                name=name,
                event=EVENT,
                url=url,
                is_enabled=True,
                status_change_reason="",
                owner_id=self.owner_id,
            )
        return hook.id

    async def emit(self, count: int = 1) -> None:
        async with self.store.write() as conn:
            for n in range(count):
                await emit(
                    conn, EVENT, site_id=self.site_id, resource_luid=str(n), resource_name="W"
                )

    async def rows(self, webhook_id: str) -> list[Any]:
        async with self.store.read() as conn:
            result = await conn.execute(
                select(deliveries.c.status, deliveries.c.leased_by).where(
                    deliveries.c.webhook_id == webhook_id
                )
            )
            return list(result)


@pytest.fixture
def rig(seeded: Seeded) -> Rig:
    return Rig(seeded.store, seeded.site_id, seeded.admin_id)


def _options(**overrides: Any) -> DispatcherOptions:
    knobs: dict[str, Any] = {
        "retry_policy": RetryPolicy.parse("tableau"),
        "disable_after": 1,
        "lease_s": 30.0,
        "batch_size": 50,
        "concurrency": 64,
        "per_destination": 2,
        "poll_interval_s": 0.1,
        "attempt_timeout_s": 15.0,
    }
    knobs.update(overrides)
    return DispatcherOptions(**knobs)


@pytest.fixture
async def dispatching(rig: Rig) -> AsyncIterator[Callable[..., Any]]:
    started: list[tuple[Dispatcher, Sender]] = []

    async def start(**overrides: Any) -> Dispatcher:
        sender = Sender(LOCAL_POLICY, total_timeout_s=15.0)
        await sender.start()
        dispatcher = Dispatcher(rig.store, sender, _options(**overrides))
        await dispatcher.start()
        started.append((dispatcher, sender))
        return dispatcher

    yield start
    for dispatcher, sender in started:
        await dispatcher.stop(grace_s=0.1)
        await sender.close()


async def _until(check: Callable[[], Any], timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def test_an_emitted_delivery_is_written_leased_and_sent_after_commit(
    rig: Rig, dispatching: Callable[..., Any], endpoints: Callable[[bool], Any]
) -> None:
    receiver: Endpoint = await endpoints(False)  # holds the answer until the gate opens
    webhook_id = await rig.webhook("held", receiver.url)
    dispatcher: Dispatcher = await dispatching()

    await rig.emit()
    # Already leased to this dispatcher by the emitting transaction: no claim was needed.
    assert [tuple(r) for r in await rig.rows(webhook_id)] == [("delivering", dispatcher.worker_id)]

    async def arrived() -> bool:
        return receiver.arrived == 1

    await _until(arrived)
    receiver.gate.set()

    async def succeeded() -> bool:
        return [tuple(r) for r in await rig.rows(webhook_id)] == [("succeeded", None)]

    await _until(succeeded)


async def test_a_dead_destination_holds_only_its_slots_and_its_line(
    rig: Rig, dispatching: Callable[..., Any], endpoints: Callable[[bool], Any]
) -> None:
    dead: Endpoint = await endpoints(False)
    live: Endpoint = await endpoints(True)
    dead_id = await rig.webhook("dead", dead.url)
    await rig.webhook("live", live.url)
    await dispatching(per_destination=2, line_limit=5)

    await rig.emit(20)

    async def all_live_arrived() -> bool:
        return live.arrived == 20

    await _until(all_live_arrived)
    await asyncio.sleep(0.5)  # several claim polls: none may take the dead webhook's rows
    assert (dead.arrived, dead.most_in_flight) == (2, 2)
    rows = [tuple(r) for r in await rig.rows(dead_id)]
    held = [r for r in rows if r[0] == "delivering"]
    left = [r for r in rows if r == ("pending", None)]
    # Two in flight and five waiting in the line, leased; the rest wait in the store.
    assert (len(held), len(left)) == (7, 13)

    dead.gate.set()  # the destination recovers: its line drains and the store's rows follow

    async def all_dead_arrived() -> bool:
        return dead.arrived == 20

    await _until(all_dead_arrived)


async def test_one_transaction_sees_every_webhook_change_made_between_its_events(
    rig: Rig, dispatching: Callable[..., Any], endpoints: Callable[[bool], Any]
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

    await _until(all_arrived)

    def marker(body: bytes) -> str:
        return str(json.loads(body)["resource_luid"])

    signed = {marker(body): "webhook-signature" in headers for headers, body in first_end.requests}
    assert signed == {"e1": False, "e2": False, "e3": True, "e4": True}
    assert sorted(marker(body) for _, body in second_end.requests) == ["e2", "e3"]
