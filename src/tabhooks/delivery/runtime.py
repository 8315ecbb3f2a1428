"""Starting and stopping the delivery machinery, for ``serve`` and ``worker`` alike."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tabhooks.config import Settings
from tabhooks.delivery.dispatcher import Dispatcher, DispatcherOptions
from tabhooks.delivery.guard import DestinationPolicy
from tabhooks.delivery.metrics import DeliveryMetrics
from tabhooks.delivery.sender import Sender
from tabhooks.delivery.wake import woken_by_other_processes
from tabhooks.store import Store, outbox


@asynccontextmanager
async def sender_for(settings: Settings, policy: DestinationPolicy) -> AsyncIterator[Sender]:
    """The one sender of a process, shared by the dispatcher and Test Webhook."""
    async with Sender(
        policy,
        connect_timeout_s=settings.delivery_connect_timeout_s,
        total_timeout_s=settings.delivery_timeout_s,
        per_host_limit=settings.delivery_per_destination,
        connection_limit=max(settings.delivery_concurrency, 64),
    ) as sender:
        yield sender


@asynccontextmanager
async def delivery_runtime(
    store: Store, sender: Sender, settings: Settings, metrics: DeliveryMetrics
) -> AsyncIterator[Dispatcher]:
    """A running dispatcher (woken by other processes' NOTIFYs on PostgreSQL) for the block.

    The dispatcher is connected to the outbox as its hand-off port, so deliveries emitted in
    this process go to it straight after their transaction commits.
    """
    async with woken_by_other_processes(store):
        dispatcher = Dispatcher(store, sender, DispatcherOptions.from_settings(settings), metrics)
        await dispatcher.start()
        outbox.connect(store, dispatcher)
        try:
            yield dispatcher
        finally:
            outbox.connect(store, None)
            await dispatcher.stop()
