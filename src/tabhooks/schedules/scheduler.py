"""The scheduler: turns schedules that came due into refresh jobs and flow runs, once each.

Every ``TABHOOKS_SCHEDULE_POLL_S`` (and once at start-up) each process with a job runner
claims the active schedules whose next run has come (:func:`tabhooks.store.schedules.claim_due`)
and, in the same transaction, queues one job per task and moves the schedule's next run to its
first slot after now. So:

* a due run happens once however many processes look (PostgreSQL: the claim's row locks skip
  what another process holds, and a committed claim is no longer due; SQLite: one writer);
* a process killed while claiming loses nothing (the transaction rolls back, the schedule stays
  due); the queued jobs then run under the job runner's leases, so a job whose runner dies is
  taken over and still completes once (:mod:`tabhooks.jobs.runner`);
* runs missed while nothing was running are one run at start-up, not one per missed slot, as
  Tableau Server does;
* the jobs are the same jobs an on-demand refresh queues: the same connection checks, the same
  ``*RefreshStarted`` / ``*RefreshSucceeded`` / ``*RefreshFailed`` and ``FlowCompleted`` events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from tabhooks.schedules import recurrence
from tabhooks.store import Store
from tabhooks.store import jobs as jobs_store
from tabhooks.store import schedules as schedules_store
from tabhooks.store.schedules import Task, job_type_of
from tabhooks.store.tables import utcnow_precise

log = logging.getLogger(__name__)

#: Schedules claimed per transaction (the loop claims again at once while it finds this many).
BATCH = 50


async def queue_run(conn: AsyncConnection, task: Task, at: datetime) -> str | None:
    """Queue ``task``'s job in the caller's transaction; the job's id, or ``None`` when the same
    content already has one queued or running (Tableau does not queue a duplicate)."""
    job_type = job_type_of(task.type)
    if await jobs_store.active_for(conn, task.content_id, job_type) is not None:
        log.info("action=schedule_run_skipped task=%s reason=already queued", task.id)
        return None
    job = await jobs_store.enqueue(
        conn,
        site_id=task.site_id,
        job_type=job_type,
        content_id=task.content_id,
        content_kind=task.content_kind,
        content_name=task.content_name,
        incremental=task.refresh_type == "IncrementalRefresh",
        owner_id=task.owner_id,
    )
    await schedules_store.ran(conn, task.id, at)
    return job.id


async def fire_due(store: Store, zone: ZoneInfo, now: datetime | None = None) -> int:
    """Run every schedule due at ``now`` once; the number of schedules run.

    Args:
        store: Where schedules and jobs are.
        zone: The zone schedules' times of day are read in.
        now: The moment to run for (the current time unless given: tests of the store pass one).
    """
    moment = now or utcnow_precise()
    ran = queued = 0
    while True:
        async with store.write() as conn:
            due = await schedules_store.claim_due(conn, moment, BATCH)
            for schedule in due:
                await schedules_store.move_on(
                    conn, schedule.id, recurrence.of(schedule).next_after(moment, zone)
                )
                for task in await schedules_store.tasks_of(conn, schedule.id):
                    queued += await queue_run(conn, task, moment) is not None
                log.info("action=schedule_ran schedule=%s name=%s", schedule.id, schedule.name)
        ran += len(due)
        if len(due) < BATCH:
            break
    if queued:
        store.new_jobs.set()
    return ran


class Scheduler:
    """Looks for due schedules every ``poll_s`` until :meth:`stop`.

    Args:
        store: Where schedules are.
        zone: The zone schedules' times of day are read in.
        poll_s: Seconds between two looks.
    """

    def __init__(self, store: Store, zone: ZoneInfo, poll_s: float) -> None:
        self.store = store
        self.zone = zone
        self.poll_s = poll_s
        self._stopping = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._loop = asyncio.create_task(self._run(), name="tabhooks-scheduler")

    async def stop(self) -> None:
        self._stopping.set()
        if self._loop is not None:
            await self._loop

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await fire_due(self.store, self.zone)
            except Exception:
                log.exception("action=schedule_claim_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.poll_s)
