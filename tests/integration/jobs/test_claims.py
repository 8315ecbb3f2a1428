"""The job queue on each backend: claims fair across sites and capped per site, leases renewed
while a job runs, and a claim that lost its job can neither renew it nor record its outcome."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import pytest
from sqlalchemy import insert, select

from tabhooks.jobs.lease import LeaseKeeper
from tabhooks.jobs.limits import JobLimits
from tabhooks.store import Store, open_store
from tabhooks.store import jobs as jobs_store
from tabhooks.store import sites as sites_store
from tabhooks.store.jobs import Claim, JobStatus
from tabhooks.store.tables import jobs, utcnow
from tests.integration.conftest import Seeded


async def _site(store: Store, name: str) -> str:
    async with store.write() as conn:
        site = await sites_store.create(conn, name=name, content_url=name.lower())
    return site.id


async def _queue(store: Store, site_id: str, count: int) -> list[str]:
    """``count`` pending refreshes on ``site_id`` (no content: the queue does not need any)."""
    ids = [str(uuid.uuid4()) for _ in range(count)]
    now = utcnow()
    async with store.write() as conn:
        for job_id in ids:
            await conn.execute(
                insert(jobs).values(
                    id=job_id, site_id=site_id, type="RefreshExtract", content_id=None,
                    content_kind="datasource", content_name=job_id, status="Pending",
                    progress=0, incremental=False, created_at=now, updated_at=now,
                )
            )  # fmt: skip
    return ids


async def _claim(store: Store, limit: int, per_site: int, lease_s: float = 60) -> list[Claim]:
    async with store.write() as conn:
        return await jobs_store.claim(conn, limit=limit, lease_s=lease_s, per_site=per_site)


async def _status(store: Store, job_id: str) -> JobStatus:
    async with store.read() as conn:
        row = (await conn.execute(select(jobs.c.status).where(jobs.c.id == job_id))).one()
    return JobStatus(row.status)


async def test_sites_take_turns_and_none_passes_its_cap(seeded: Seeded) -> None:
    store, busy = seeded.store, seeded.site_id
    quiet, third = await _site(store, "Quiet"), await _site(store, "Third")
    await _queue(store, busy, 6)  # the backlog, queued first
    (quiet_job,) = await _queue(store, quiet, 1)
    await _queue(store, third, 2)

    first = await _claim(store, limit=3, per_site=2)
    # One job of each site before a second of any, however old the busy site's backlog.
    assert Counter(c.job.site_id for c in first) == {busy: 1, quiet: 1, third: 1}
    assert quiet_job in {c.job.id for c in first}
    assert all(c.first_start for c in first)

    second = await _claim(store, limit=10, per_site=2)
    assert Counter(c.job.site_id for c in second) == {busy: 1, third: 1}  # each now at its cap
    assert await _claim(store, limit=10, per_site=2) == []

    # A finished job frees its site's place for the next one.
    done = next(c for c in first if c.job.site_id == busy)
    async with store.write() as conn:
        assert await jobs_store.finish(conn, done.job.id, done.token, JobStatus.SUCCESS, None)
    (after,) = await _claim(store, limit=10, per_site=2)
    assert after.job.site_id == busy


async def test_a_lost_claim_can_neither_renew_nor_finish(seeded: Seeded) -> None:
    store = seeded.store
    (job_id,) = await _queue(store, seeded.site_id, 1)
    (stale,) = await _claim(store, limit=1, per_site=4, lease_s=0.05)
    await asyncio.sleep(0.2)  # its runner paused past the lease
    (fresh,) = await _claim(store, limit=1, per_site=4)
    assert fresh.job.id == job_id and not fresh.first_start and fresh.token != stale.token
    async with store.write() as conn:
        assert not await jobs_store.renew(conn, job_id, stale.token, 60)
        assert not await jobs_store.finish(conn, job_id, stale.token, JobStatus.FAILED, "late")
        assert await jobs_store.renew(conn, job_id, fresh.token, 60)
    assert await _status(store, job_id) is JobStatus.IN_PROGRESS

    async with store.write() as conn:
        assert await jobs_store.cancel(conn, seeded.site_id, job_id)
        # Cancelled: the claim holding it cannot renew or record it either.
        assert not await jobs_store.renew(conn, job_id, fresh.token, 60)
        assert not await jobs_store.finish(conn, job_id, fresh.token, JobStatus.SUCCESS, None)
    assert await _status(store, job_id) is JobStatus.CANCELLED
    assert await _claim(store, limit=1, per_site=4) == []


async def test_a_released_job_is_taken_over_at_once(seeded: Seeded) -> None:
    store = seeded.store
    (job_id,) = await _queue(store, seeded.site_id, 1)
    (held,) = await _claim(store, limit=1, per_site=4)
    assert await _claim(store, limit=1, per_site=4) == []
    async with store.write() as conn:
        assert await jobs_store.release(conn, job_id, held.token)
    (again,) = await _claim(store, limit=1, per_site=4)
    assert again.job.id == job_id and not again.first_start  # no second *RefreshStarted


async def test_a_running_job_keeps_its_lease_and_stops_when_cancelled(seeded: Seeded) -> None:
    """The keeper renews a 1 s lease while the work runs 3 s: nobody can take the job over.
    Once the job is cancelled the next renewal is refused and the work is stopped."""
    store = seeded.store
    limits = JobLimits(lease_s=1.0)
    (job_id,) = await _queue(store, seeded.site_id, 1)
    loop = asyncio.get_running_loop()
    held_since = loop.time()
    (claim,) = await _claim(store, limit=1, per_site=4, lease_s=limits.lease_s)
    work = asyncio.create_task(asyncio.sleep(30))
    keeper = LeaseKeeper(store, claim, limits, held_since)
    keeping = asyncio.create_task(keeper.keep(work))
    try:
        for _ in range(6):  # three leases long
            await asyncio.sleep(0.5)
            assert await _claim(store, limit=1, per_site=4) == []
            assert not work.done()
        async with store.write() as conn:
            assert await jobs_store.cancel(conn, seeded.site_id, job_id)
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(work, 10)
        await asyncio.wait_for(keeping, 10)
        assert keeper.lost == "cancelled or taken over by another runner"
    finally:
        work.cancel()
        keeping.cancel()


async def test_concurrent_claimers_never_share_a_job_or_pass_the_cap(
    seeded: Seeded, backend: str
) -> None:
    """Several processes claiming at once (PostgreSQL): each job is taken once, and the
    per-site cap holds over all of them together."""
    if backend != "postgres":
        pytest.skip("SQLite stores are written by one process")
    busy, other = seeded.site_id, await _site(seeded.store, "Other")
    await _queue(seeded.store, busy, 20)
    await _queue(seeded.store, other, 20)
    claimers = [open_store(seeded.url) for _ in range(4)]
    try:
        rounds = await asyncio.gather(
            *(_claim(s, limit=3, per_site=3) for s in claimers for _ in range(3))
        )
    finally:
        for claimer in claimers:
            await claimer.dispose()
    taken = [c.job.id for claims in rounds for c in claims]
    assert len(taken) == len(set(taken))
    assert Counter(c.job.site_id for claims in rounds for c in claims) == {busy: 3, other: 3}
