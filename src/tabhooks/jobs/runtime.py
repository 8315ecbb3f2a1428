"""Starting and stopping the job runner, for ``serve`` and ``worker`` alike."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tabhooks.jobs.runner import JobRunner
from tabhooks.store import Store


@asynccontextmanager
async def job_runtime(store: Store) -> AsyncIterator[JobRunner]:
    runner = JobRunner(store)
    await runner.start()
    try:
        yield runner
    finally:
        await runner.stop()
