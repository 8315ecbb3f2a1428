"""``tabhooks worker``: the delivery dispatcher alone, for scaling out on PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import TYPE_CHECKING

from rich.console import Console

from tabhooks.cli import startup

if TYPE_CHECKING:
    from tabhooks.config import Settings

console = Console(stderr=True)


async def _run(settings: Settings) -> None:
    # Imported when the worker runs, so client commands start in a fraction of a second.
    from tabhooks.delivery.guard import DestinationPolicy
    from tabhooks.delivery.metrics import DeliveryMetrics
    from tabhooks.delivery.runtime import delivery_runtime, sender_for
    from tabhooks.jobs.runtime import job_runtime
    from tabhooks.store import migrate, open_store

    store = open_store(settings.database_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await migrate(store)
        policy = DestinationPolicy.from_settings(settings)
        async with (
            sender_for(settings, policy) as sender,
            delivery_runtime(store, sender, settings, DeliveryMetrics()) as dispatcher,
            job_runtime(store, settings),
        ):
            print(f"tabhooks worker {dispatcher.worker_id} delivering", flush=True)
            await stop.wait()
    finally:
        await store.dispose()


def worker() -> None:
    """Deliver queued webhook events and run background jobs, without serving the API.

    Any number of workers (and servers) can share one PostgreSQL store: each claims its own
    batches with FOR UPDATE SKIP LOCKED and wakes on LISTEN/NOTIFY. On SQLite, run the
    dispatcher inside `tabhooks serve` instead (one process owns an SQLite file best).

    Example: [bold]TABHOOKS_DATABASE_URL=postgresql://... tabhooks worker[/]
    """
    from tabhooks.store.keys import install_secret_box

    settings = startup.load_settings()  # a bad value is one line (exit 1), as for serve
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    if settings.dev:
        console.print("[bold red]DEVELOPMENT MODE:[/] internal and http:// destinations allowed.")
    with startup.store_errors(settings.database_url):
        install_secret_box(settings)  # the keys that seal stored secrets (as `serve` does)
        asyncio.run(_run(settings))
