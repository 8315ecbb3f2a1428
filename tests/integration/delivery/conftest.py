"""A real store, real dispatchers and real receivers for the delivery integration tests.

The tests drive :class:`~tabhooks.delivery.dispatcher.Dispatcher` directly (not through the
HTTP API), so they can look at the queue rows between steps and start dispatchers after the
work is queued (a worker that was down).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import func, select

from tabhooks.delivery.dispatcher import Dispatcher, DispatcherOptions
from tabhooks.delivery.guard import DestinationPolicy
from tabhooks.delivery.metrics import DeliveryMetrics
from tabhooks.delivery.retry import RetryPolicy
from tabhooks.delivery.sender import Sender
from tabhooks.services.emit import emit
from tabhooks.store import Store, outbox
from tabhooks.store import webhooks as webhooks_store
from tabhooks.store.tables import deliveries
from tests.integration.conftest import Seeded

LOCAL_POLICY = DestinationPolicy(allow_http=True, allow_private=True)
EVENT = "WorkbookCreated"


@dataclass
class Endpoint:
    """One real receiver on its own port.

    ``gate`` holds every answer until it is set (never set: a destination that accepts
    connections and never answers); ``delay_s`` delays each answer once the gate is open.
    """

    url: str = ""
    base: str = ""
    arrived: int = 0
    in_flight: int = 0
    most_in_flight: int = 0
    delay_s: float = 0.0
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    #: Every request's headers and body, in arrival order.
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    #: How many requests were in flight (itself included) as each one arrived.
    in_flight_at_arrival: list[int] = field(default_factory=list)

    def webhook_ids(self) -> list[str]:
        return [headers["webhook-id"] for headers, _ in self.requests]


Endpoints = Callable[..., Awaitable[Endpoint]]


@pytest.fixture
async def endpoints() -> AsyncIterator[Endpoints]:
    runners: list[web.AppRunner] = []

    async def start(answering: bool, delay_s: float = 0.0) -> Endpoint:
        state = Endpoint(delay_s=delay_s)
        if answering:
            state.gate.set()

        async def hook(request: web.Request) -> web.Response:
            state.requests.append((dict(request.headers), await request.read()))
            state.arrived += 1
            state.in_flight += 1
            state.in_flight_at_arrival.append(state.in_flight)
            state.most_in_flight = max(state.most_in_flight, state.in_flight)
            try:
                await state.gate.wait()  # a black hole never answers
                if state.delay_s:
                    await asyncio.sleep(state.delay_s)
            finally:
                state.in_flight -= 1
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_post("/{tail:.*}", hook)
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        state.base = f"http://127.0.0.1:{port}"
        state.url = f"{state.base}/hook"
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

    async def webhook(self, name: str, url: str, event: str = EVENT) -> str:
        return (await self.webhooks([(name, url)], event))[0]

    async def webhooks(self, named_urls: list[tuple[str, str]], event: str = EVENT) -> list[str]:
        ids = []
        async with self.store.write() as conn:
            for name, url in named_urls:
                hook = await webhooks_store.create(
                    conn,
                    site_id=self.site_id,
                    name=name,
                    event=event,
                    url=url,
                    is_enabled=True,
                    status_change_reason="",
                    owner_id=self.owner_id,
                )
                ids.append(hook.id)
        return ids

    async def emit(self, count: int = 1, event: str = EVENT, per_transaction: int = 0) -> None:
        """``count`` events, in transactions of ``per_transaction`` (all in one when 0)."""
        size = per_transaction or count
        for first in range(0, count, size):
            async with self.store.write() as conn:
                for n in range(first, min(count, first + size)):
                    await emit(
                        conn, event, site_id=self.site_id, resource_luid=str(n), resource_name="W"
                    )

    async def rows(self, webhook_id: str) -> list[Any]:
        async with self.store.read() as conn:
            result = await conn.execute(
                select(deliveries.c.status, deliveries.c.leased_by).where(
                    deliveries.c.webhook_id == webhook_id
                )
            )
            return list(result)

    async def by_status(self, webhook_ids: list[str] | None = None) -> dict[str, int]:
        query = select(deliveries.c.status, func.count()).group_by(deliveries.c.status)
        if webhook_ids is not None:
            query = query.where(deliveries.c.webhook_id.in_(webhook_ids))
        async with self.store.read() as conn:
            return {str(status): int(n) for status, n in await conn.execute(query)}


@pytest.fixture
def rig(seeded: Seeded) -> Rig:
    return Rig(seeded.store, seeded.site_id, seeded.admin_id)


def options(**overrides: Any) -> DispatcherOptions:
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


Dispatching = Callable[..., Awaitable[Dispatcher]]


@pytest.fixture
async def dispatching(rig: Rig) -> AsyncIterator[Dispatching]:
    """Starts dispatchers on the rig's store (each with its own sender and metrics), wired as
    :func:`tabhooks.delivery.runtime.delivery_runtime` wires one: the last one started takes
    this process's hand-offs."""
    started: list[tuple[Dispatcher, Sender]] = []

    async def start(**overrides: Any) -> Dispatcher:
        sender = Sender(LOCAL_POLICY, total_timeout_s=overrides.get("attempt_timeout_s", 15.0))
        await sender.start()
        dispatcher = Dispatcher(rig.store, sender, options(**overrides), DeliveryMetrics())
        await dispatcher.start()
        outbox.connect(rig.store, dispatcher)
        started.append((dispatcher, sender))
        return dispatcher

    yield start
    outbox.connect(rig.store, None)
    for dispatcher, sender in started:
        await dispatcher.stop(grace_s=0.1)
        await sender.close()


async def until(check: Callable[[], Awaitable[bool]], timeout_s: float = 10.0) -> None:
    """Wait for ``check``; ``timeout_s`` only bounds a test that would otherwise hang."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)
