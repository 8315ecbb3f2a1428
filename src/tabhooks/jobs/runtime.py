"""Starting and stopping the job runner, for ``serve`` and ``worker`` alike."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tabhooks.config import Settings
from tabhooks.jobs.limits import JobLimits
from tabhooks.jobs.reach import ReachPolicy
from tabhooks.jobs.runner import JobRunner
from tabhooks.schedules.recurrence import zone_of
from tabhooks.schedules.scheduler import Scheduler
from tabhooks.store import Store


@asynccontextmanager
async def job_runtime(store: Store, settings: Settings) -> AsyncIterator[JobRunner]:
    """A running job runner, reaching what ``settings`` allow within their bounds, and the
    scheduler that queues schedules' runs for it, for the block's duration."""
    runner = JobRunner(
        store, ReachPolicy.from_settings(settings), JobLimits.from_settings(settings)
    )
    await runner.start()
    scheduler = Scheduler(store, zone_of(settings.schedule_timezone), settings.schedule_poll_s)
    await scheduler.start()
    try:
        yield runner
    finally:
        await scheduler.stop()
        await runner.stop()
