"""The job runner: takes queued refreshes and flow runs and really performs them.

A refresh fires ``*RefreshStarted`` when it is taken (in the transaction that marks it
InProgress), reaches every connection of the content (:mod:`.connect`), then records Success
or Failed with the notes and fires ``*RefreshSucceeded`` or ``*RefreshFailed`` in the same
transaction. A flow run fires ``FlowCompleted`` when it succeeds. A cancelled job fires
nothing more. Several runners (processes) can share the queue on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from tabhooks.events import Resource
from tabhooks.jobs import connect
from tabhooks.jobs.reach import ReachPolicy
from tabhooks.models import ContentKind
from tabhooks.services.emit import emit
from tabhooks.services.jobs import REFRESH, RUN_FLOW
from tabhooks.store import Store
from tabhooks.store import contents as contents_store
from tabhooks.store import jobs as jobs_store
from tabhooks.store.jobs import Job, JobStatus

log = logging.getLogger(__name__)

#: Jobs run at once per process.
CONCURRENT_JOBS = 4
#: A runner holds a job this long; one that dies is replaced after it.
JOB_LEASE_S = 300.0
POLL_INTERVAL_S = 1.0

_PREFIX = {ContentKind.WORKBOOK.value: "Workbook", ContentKind.DATASOURCE.value: "Datasource"}


class JobRunner:
    """Runs background jobs until :meth:`stop`.

    Args:
        store: Where the queue is.
        policy: Which files and database hosts refreshes may reach.
        poll_interval_s: How often an idle runner looks for jobs queued by other processes.
    """

    def __init__(
        self, store: Store, policy: ReachPolicy, poll_interval_s: float = POLL_INTERVAL_S
    ) -> None:
        self.store = store
        self.policy = policy
        self.poll_interval_s = poll_interval_s
        self._slots = asyncio.Semaphore(CONCURRENT_JOBS)
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._loop = asyncio.create_task(self._run(), name="tabhooks-jobs")

    async def stop(self) -> None:
        self._stopping.set()
        self.store.new_jobs.set()
        if self._loop:
            await self._loop
        for task in list(self._tasks):
            task.cancel()  # the lease expires and the job is taken over later
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run(self) -> None:
        while not self._stopping.is_set():
            free = CONCURRENT_JOBS - len(self._tasks)
            claimed: list[tuple[Job, bool]] = []
            if free > 0:
                self.store.new_jobs.clear()
                try:
                    claimed = await self._claim(free)
                except Exception:
                    log.exception("action=job_claim_failed")
            for job, _ in claimed:
                task = asyncio.create_task(self._execute(job))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            if not claimed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.store.new_jobs.wait(), self.poll_interval_s)

    async def _claim(self, limit: int) -> list[tuple[Job, bool]]:
        async with self.store.write() as conn:
            claimed = await jobs_store.claim(conn, limit=limit, lease_s=JOB_LEASE_S)
            for job, first_start in claimed:
                if first_start and job.type == REFRESH and job.content_id:
                    await emit(
                        conn,
                        f"{_PREFIX[job.content_kind]}RefreshStarted",
                        site_id=job.site_id,
                        resource_luid=job.content_id,
                        resource_name=job.content_name,
                        resource=Resource.EXTRACTS,
                    )
        return claimed

    async def _execute(self, job: Job) -> None:
        try:
            ok, notes = await self._perform(job)
        except Exception as exc:
            log.exception("action=job_crashed job=%s", job.id)
            ok, notes = False, f"internal error: {type(exc).__name__}"
        status = JobStatus.SUCCESS if ok else JobStatus.FAILED
        async with self.store.write() as conn:
            if not await jobs_store.finish(conn, job.id, status, None if ok else notes):
                return  # cancelled meanwhile
            if job.content_id is None:
                return
            if job.type == REFRESH:
                outcome = "Succeeded" if ok else "Failed"
                await emit(
                    conn,
                    f"{_PREFIX[job.content_kind]}Refresh{outcome}",
                    site_id=job.site_id,
                    resource_luid=job.content_id,
                    resource_name=job.content_name,
                    resource=Resource.EXTRACTS,
                )
            elif job.type == RUN_FLOW and ok:
                await emit(
                    conn,
                    "FlowCompleted",
                    site_id=job.site_id,
                    resource_luid=job.content_id,
                    resource_name=job.content_name,
                )
        log.info("action=job_finished job=%s type=%s status=%s", job.id, job.type, status)

    async def _perform(self, job: Job) -> tuple[bool, str]:
        if job.content_id is None:
            return False, "the content was deleted before the job ran"
        async with self.store.read() as conn:
            connections = await contents_store.connections_of(conn, job.content_id)
        return await connect.refresh(connections, self.policy)
