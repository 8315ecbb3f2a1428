"""The job runner: takes queued refreshes and flow runs and really performs them.

A refresh fires ``*RefreshStarted`` when it is taken (in the transaction that marks it
InProgress), reaches every connection of the content (:mod:`.connect`), then records Success
or Failed with the notes and fires ``*RefreshSucceeded`` or ``*RefreshFailed`` in the same
transaction. A flow run fires ``FlowCompleted`` when it succeeds. A cancelled job fires
nothing more. Several runners (processes) can share the queue on PostgreSQL.

Bounds (:class:`.limits.JobLimits`): a runner runs at most ``concurrency`` jobs at once, and
claims them fairly across sites, never more than ``per_site`` of one site at once over all
runners (:func:`tabhooks.store.jobs.claim`); a job that runs longer than ``timeout_s`` fails
with a note saying so, and fires ``*RefreshFailed`` like any failure. While it runs its lease
is renewed (:mod:`.lease`), and only the claim holding it may record its outcome, so no job
runs twice at once or finishes twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from tabhooks.events import Resource
from tabhooks.jobs import connect
from tabhooks.jobs.lease import LeaseKeeper
from tabhooks.jobs.limits import JobLimits
from tabhooks.jobs.offload import Offload
from tabhooks.jobs.reach import ReachPolicy
from tabhooks.models import ContentKind
from tabhooks.services.emit import emit
from tabhooks.services.jobs import REFRESH, RUN_FLOW
from tabhooks.store import Store
from tabhooks.store import contents as contents_store
from tabhooks.store import jobs as jobs_store
from tabhooks.store.jobs import Claim, JobStatus

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 1.0

_PREFIX = {ContentKind.WORKBOOK.value: "Workbook", ContentKind.DATASOURCE.value: "Datasource"}


#: A claimed job's progress (``jobs.claim`` writes it), and the most it reports before its
#: outcome is recorded (which writes 100).
STARTED_PROGRESS = 10
LAST_PROGRESS = 90


def progress_after(done: int, total: int) -> int:
    """The progress of a refresh that has reached ``done`` of its ``total`` connections."""
    span = LAST_PROGRESS - STARTED_PROGRESS
    return STARTED_PROGRESS + (span * done) // max(total, 1)


def timeout_note(limits: JobLimits) -> str:
    """The notes of a job stopped at the time limit."""
    return (
        f"timed out: the job did not finish within {limits.timeout_s:g} s (TABHOOKS_JOB_TIMEOUT_S)"
    )


class JobRunner:
    """Runs background jobs until :meth:`stop`.

    Args:
        store: Where the queue is.
        policy: Which files and database hosts refreshes may reach.
        limits: How many jobs at once, for how long, under which lease.
        poll_interval_s: How often an idle runner looks for jobs queued by other processes.
    """

    def __init__(
        self,
        store: Store,
        policy: ReachPolicy,
        limits: JobLimits | None = None,
        poll_interval_s: float = POLL_INTERVAL_S,
    ) -> None:
        self.store = store
        self.policy = policy
        self.limits = limits or JobLimits()
        self.poll_interval_s = poll_interval_s
        self._offload = Offload(self.limits.concurrency)
        #: The jobs this runner holds, by the task running each.
        self._running: dict[asyncio.Task[None], Claim] = {}
        #: Their lease keepers, which end on their own once told the work is over.
        self._keepers: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._loop = asyncio.create_task(self._run(), name="tabhooks-jobs")

    async def stop(self) -> None:
        """Stop claiming, stop the running jobs and hand them back: their leases end now, so
        another runner (or this one, restarted) takes them over at once."""
        self._stopping.set()
        self.store.new_jobs.set()
        if self._loop:
            await self._loop
        held = dict(self._running)
        for task in held:
            task.cancel()
        await asyncio.gather(*held, return_exceptions=True)
        await asyncio.gather(*self._keepers, return_exceptions=True)
        for claim in held.values():
            try:
                async with self.store.write() as conn:
                    await jobs_store.release(conn, claim.job.id, claim.token)
            except Exception:
                log.exception("action=job_release_failed job=%s", claim.job.id)
        self._offload.close()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            free = self.limits.concurrency - len(self._running)
            claimed: list[Claim] = []
            if free > 0:
                self.store.new_jobs.clear()
                held_since = loop.time()
                try:
                    claimed = await self._claim(free)
                except Exception:
                    log.exception("action=job_claim_failed")
            for claim in claimed:
                task = asyncio.create_task(
                    self._execute(claim, held_since), name=f"tabhooks-job-{claim.job.id}"
                )
                self._running[task] = claim
                task.add_done_callback(self._done)
            if not claimed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.store.new_jobs.wait(), self.poll_interval_s)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._running.pop(task, None)
        if not self._stopping.is_set():
            self.store.new_jobs.set()  # a slot is free: look at the queue again now

    async def _claim(self, limit: int) -> list[Claim]:
        async with self.store.write() as conn:
            claimed = await jobs_store.claim(
                conn, limit=limit, lease_s=self.limits.lease_s, per_site=self.limits.per_site
            )
            for claim in claimed:
                job = claim.job
                if claim.first_start and job.type == REFRESH and job.content_id:
                    await emit(
                        conn,
                        f"{_PREFIX[job.content_kind]}RefreshStarted",
                        site_id=job.site_id,
                        resource_luid=job.content_id,
                        resource_name=job.content_name,
                        resource=Resource.EXTRACTS,
                    )
        return claimed

    async def _execute(self, claim: Claim, held_since: float) -> None:
        """Run one claimed job under its lease and time limit, then record the outcome."""
        job = claim.job
        work = asyncio.create_task(self._bounded(claim))
        keeper = LeaseKeeper(self.store, claim, self.limits, held_since)
        keeping = asyncio.create_task(keeper.keep(work))
        self._keepers.add(keeping)  # the loop holds tasks weakly
        keeping.add_done_callback(self._keepers.discard)
        try:
            ok, notes = await work
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if keeper.lost is not None and current is not None and not current.cancelling():
                return  # no longer ours: whoever holds it now records it (or nobody: cancelled)
            work.cancel()
            raise
        finally:
            keeper.done()
        try:
            await self._record(claim, ok, notes)
        except Exception:
            # The job stays InProgress under a lease nobody renews: taken over once it ends.
            log.exception("action=job_record_failed job=%s", job.id)

    async def _bounded(self, claim: Claim) -> tuple[bool, str]:
        """The job's outcome, or a failure once it has run ``timeout_s``."""
        job = claim.job
        limit = asyncio.timeout(self.limits.timeout_s)
        try:
            async with limit:
                return await self._perform(claim)
        except Exception as exc:
            if isinstance(exc, TimeoutError) and limit.expired():
                log.warning("action=job_timed_out job=%s limit_s=%g", job.id, self.limits.timeout_s)
                return False, timeout_note(self.limits)
            log.exception("action=job_crashed job=%s", job.id)
            return False, f"internal error: {type(exc).__name__}"

    async def _record(self, claim: Claim, ok: bool, notes: str) -> None:
        job = claim.job
        status = JobStatus.SUCCESS if ok else JobStatus.FAILED
        async with self.store.write() as conn:
            if not await jobs_store.finish(
                conn, job.id, claim.token, status, None if ok else notes
            ):
                log.info("action=job_not_recorded job=%s reason=cancelled or taken over", job.id)
                return
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

    async def _perform(self, claim: Claim) -> tuple[bool, str]:
        job = claim.job
        if job.content_id is None:
            return False, "the content was deleted before the job ran"
        async with self.store.read() as conn:
            connections = await contents_store.connections_of(conn, job.content_id)

        async def write(progress: int) -> None:
            try:
                async with self.store.write() as conn:
                    await jobs_store.set_progress(conn, job.id, claim.token, progress)
            except Exception:  # progress is a courtesy: the job goes on without it
                log.exception("action=job_progress_failed job=%s", job.id)

        async def reached(done: int, total: int) -> None:
            """Report progress after each connection, from the claim's 10 % towards 90 %;
            shielded, as the lease keeper's renewals are: a write cut off half-way (the job
            cancelled or timed out meanwhile) would cost the store its connection."""
            writing = asyncio.create_task(write(progress_after(done, total)))
            self._keepers.add(writing)  # held (the loop holds tasks weakly), awaited by stop()
            writing.add_done_callback(self._keepers.discard)
            await asyncio.shield(writing)

        return await connect.refresh(connections, self.policy, self._offload, reached)
