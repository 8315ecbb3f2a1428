"""Named statements over ``jobs``: enqueue, claim, renew, finish, cancel and inspect.

Jobs are claimed under a lease, so a runner that dies mid-job leaves it to be picked up again
once the lease runs out. A runner renews the lease while the job runs, and every claim carries
its own token (``lease_token``): renewals and the outcome are written only while the token is
still the job's, so a runner that lost its job — taken over after a long pause, or cancelled —
can never record it, and one job never runs twice at once.

Claims are fair across sites: a site's waiting jobs are taken in turns with every other
site's, and never more than a cap of one site's jobs run at once (counted over every process
sharing the store), so one site's backlog cannot hold up the others. On PostgreSQL claims are
serialised by an advisory lock, so two processes never both see room under the cap; on SQLite
the write lock does the same.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tabhooks.store import listing
from tabhooks.store.backend import backend_of
from tabhooks.store.listing import EQ_IN, RANGE, Field, Kind
from tabhooks.store.tables import jobs, utcnow, utcnow_precise


class JobStatus(StrEnum):
    """Tableau's background job statuses."""

    #: Queued, not started.
    PENDING = "Pending"
    #: Running (or its runner died and the lease has not yet expired).
    IN_PROGRESS = "InProgress"
    #: Finished well (finishCode 0).
    SUCCESS = "Success"
    #: Finished badly (finishCode 1); ``notes`` says why.
    FAILED = "Failed"
    #: Cancelled before it finished (finishCode 2).
    CANCELLED = "Cancelled"


FINISH_CODES = {JobStatus.SUCCESS: 0, JobStatus.FAILED: 1, JobStatus.CANCELLED: 2}
_ACTIVE = (JobStatus.PENDING.value, JobStatus.IN_PROGRESS.value)
#: Arbitrary key of the PostgreSQL advisory lock that serialises claims (see the module doc).
_CLAIM_LOCK_KEY = 0x7AB40B5C


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    site_id: str
    type: str
    content_id: str | None
    content_kind: str
    content_name: str
    status: JobStatus
    progress: int
    incremental: bool
    notes: str | None
    finish_code: int | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> Job:
        m = row._mapping
        return cls(
            id=m["id"],
            site_id=m["site_id"],
            type=m["type"],
            content_id=m["content_id"],
            content_kind=m["content_kind"],
            content_name=m["content_name"],
            status=JobStatus(m["status"]),
            progress=int(m["progress"] or 0),
            incremental=bool(m["incremental"]),
            notes=m["notes"],
            finish_code=m["finish_code"],
            created_at=m["created_at"],
            started_at=m["started_at"],
            completed_at=m["completed_at"],
        )


async def active_for(conn: AsyncConnection, content_id: str, job_type: str) -> Job | None:
    row = (
        await conn.execute(
            select(jobs).where(
                jobs.c.content_id == content_id, jobs.c.type == job_type, jobs.c.status.in_(_ACTIVE)
            )
        )
    ).first()
    return Job.from_row(row) if row else None


async def enqueue(
    conn: AsyncConnection,
    *,
    site_id: str,
    job_type: str,
    content_id: str,
    content_kind: str,
    content_name: str,
    incremental: bool = False,
    owner_id: str | None = None,
) -> Job:
    now = utcnow()
    job_id = str(uuid.uuid4())
    await conn.execute(
        insert(jobs).values(
            id=job_id,
            site_id=site_id,
            type=job_type,
            content_id=content_id,
            content_kind=content_kind,
            content_name=content_name,
            status=JobStatus.PENDING.value,
            progress=0,
            incremental=incremental,
            created_at=now,
            updated_at=now,
            owner_id=owner_id,
        )
    )
    found = await get(conn, site_id, job_id)
    assert found is not None
    return found


async def record_done(
    conn: AsyncConnection,
    *,
    site_id: str,
    job_type: str,
    content_id: str,
    content_kind: str,
    content_name: str,
    owner_id: str | None = None,
) -> Job:
    """A job that finished as it was created (a publish done synchronously, asked as a job)."""
    job = await enqueue(
        conn,
        site_id=site_id,
        job_type=job_type,
        content_id=content_id,
        content_kind=content_kind,
        content_name=content_name,
        owner_id=owner_id,
    )
    now = utcnow()
    await conn.execute(
        update(jobs)
        .where(jobs.c.id == job.id)
        .values(
            status=JobStatus.SUCCESS.value,
            finish_code=FINISH_CODES[JobStatus.SUCCESS],
            progress=100,
            started_at=now,
            completed_at=now,
            updated_at=now,
        )
    )
    done = await get(conn, site_id, job.id)
    assert done is not None
    return done


async def owner_of(conn: AsyncConnection, site_id: str, job_id: str) -> str | None:
    """Who queued a job (``None`` if unknown: queued before owners were kept, or deleted)."""
    row = (
        await conn.execute(
            select(jobs.c.owner_id).where(jobs.c.site_id == site_id, jobs.c.id == job_id)
        )
    ).first()
    return row.owner_id if row else None


@dataclass(frozen=True, slots=True)
class Claim:
    """A job taken by a runner, under a lease."""

    job: Job
    #: Whether the job starts for the first time (not taken over from a lost runner).
    first_start: bool
    #: This claim's fencing token: see :func:`renew` and :func:`finish`.
    token: str


def _due(now: datetime) -> ColumnElement[bool]:
    """Jobs waiting to be taken: queued, or running under a lease that ran out."""
    return or_(
        jobs.c.status == JobStatus.PENDING.value,
        and_(jobs.c.status == JobStatus.IN_PROGRESS.value, jobs.c.lease_expires_at <= now),
    )


async def claim(conn: AsyncConnection, *, limit: int, lease_s: float, per_site: int) -> list[Claim]:
    """Take up to ``limit`` due jobs, fairly across sites, under a new lease.

    Each site's due jobs are numbered oldest first; a job's *load* is its number plus the jobs
    of its site already running (under a live lease, in any process). Jobs are taken lowest
    load first — one of each waiting site before a second of any — and only while the load is
    at most ``per_site``.

    Args:
        conn: A write transaction.
        limit: Free slots of the claiming runner.
        lease_s: Seconds the lease lasts unless renewed.
        per_site: Most jobs of one site running at once, over every runner.
    """
    if limit <= 0:
        return []
    await backend_of(conn).serialise(conn, _CLAIM_LOCK_KEY)
    now = utcnow_precise()
    running = (
        select(jobs.c.site_id, func.count().label("n"))
        .where(jobs.c.status == JobStatus.IN_PROGRESS.value, jobs.c.lease_expires_at > now)
        .group_by(jobs.c.site_id)
        .subquery()
    )
    turn = func.row_number().over(
        partition_by=jobs.c.site_id, order_by=(jobs.c.created_at, jobs.c.id)
    )
    waiting = (
        select(jobs.c.id, jobs.c.site_id, jobs.c.status, jobs.c.created_at, turn.label("turn"))
        .where(_due(now))
        .subquery()
    )
    load = waiting.c.turn + func.coalesce(running.c.n, 0)
    picked = (
        select(waiting.c.id, waiting.c.status)
        .select_from(waiting.outerjoin(running, running.c.site_id == waiting.c.site_id))
        .where(load <= per_site)
        .order_by(load, waiting.c.created_at, waiting.c.id)
        .limit(limit)
    )
    found = {row.id: row.status == JobStatus.PENDING.value for row in await conn.execute(picked)}
    if not found:
        return []
    token = str(uuid.uuid4())
    wall = utcnow()
    # The due condition again: a job cancelled since the SELECT (cancelling takes no lock)
    # stays cancelled.
    await conn.execute(
        update(jobs)
        .where(jobs.c.id.in_(list(found)), _due(now))
        .values(
            status=JobStatus.IN_PROGRESS.value,
            started_at=func.coalesce(jobs.c.started_at, wall),
            lease_expires_at=now + timedelta(seconds=lease_s),
            lease_token=token,
            progress=10,
            updated_at=wall,
        )
    )
    rows = await conn.execute(
        select(jobs)
        .where(jobs.c.id.in_(list(found)), jobs.c.lease_token == token)
        .order_by(jobs.c.created_at)
    )
    return [Claim(Job.from_row(r), found[r.id], token) for r in rows]


def _held(job_id: str, token: str) -> ColumnElement[bool]:
    """The job is still running under the claim ``token``."""
    return and_(
        jobs.c.id == job_id,
        jobs.c.status == JobStatus.IN_PROGRESS.value,
        jobs.c.lease_token == token,
    )


async def renew(conn: AsyncConnection, job_id: str, token: str, lease_s: float) -> bool:
    """Extend the lease of a running job; False when it is no longer the claim's (cancelled,
    or taken over by another runner after the lease ran out)."""
    result = await conn.execute(
        update(jobs)
        .where(_held(job_id, token))
        .values(lease_expires_at=utcnow_precise() + timedelta(seconds=lease_s))
    )
    return result.rowcount > 0


async def release(conn: AsyncConnection, job_id: str, token: str) -> bool:
    """End a claim's lease now, so another runner takes the job over without waiting for it
    to run out (a runner shutting down mid-job)."""
    result = await conn.execute(
        update(jobs).where(_held(job_id, token)).values(lease_expires_at=utcnow_precise())
    )
    return result.rowcount > 0


async def finish(
    conn: AsyncConnection, job_id: str, token: str, status: JobStatus, notes: str | None
) -> bool:
    """Record the outcome if the claim ``token`` still holds the job; True if recorded.

    Nothing is written when the job was cancelled meanwhile or taken over by another runner:
    only the claim holding the job may finish it, so it is finished (and its events fired)
    once.
    """
    now = utcnow()
    result = await conn.execute(
        update(jobs)
        .where(_held(job_id, token))
        .values(
            status=status.value,
            finish_code=FINISH_CODES[status],
            notes=notes,
            progress=100,
            completed_at=now,
            lease_expires_at=None,
            updated_at=now,
        )
    )
    return result.rowcount > 0


async def cancel(conn: AsyncConnection, site_id: str, job_id: str) -> bool:
    """Cancel a queued or running job. Like every finished job, it is then at progress 100:
    ``progress:lte:0`` (TSC's kill_all_jobs sample) finds only jobs not yet taken."""
    now = utcnow()
    result = await conn.execute(
        update(jobs)
        .where(jobs.c.site_id == site_id, jobs.c.id == job_id, jobs.c.status.in_(_ACTIVE))
        .values(
            status=JobStatus.CANCELLED.value,
            finish_code=FINISH_CODES[JobStatus.CANCELLED],
            progress=100,
            completed_at=now,
            lease_expires_at=None,
            updated_at=now,
        )
    )
    return result.rowcount > 0


async def get(conn: AsyncConnection, site_id: str, job_id: str) -> Job | None:
    row = (
        await conn.execute(select(jobs).where(jobs.c.site_id == site_id, jobs.c.id == job_id))
    ).first()
    return Job.from_row(row) if row else None


async def page(
    conn: AsyncConnection,
    site_id: str,
    *,
    statuses: tuple[str, ...] | None,
    job_types: tuple[str, ...] | None,
    offset: int,
    limit: int,
) -> tuple[list[Job], int]:
    query = select(jobs).where(jobs.c.site_id == site_id)
    if statuses is not None:
        query = query.where(jobs.c.status.in_(statuses))
    if job_types is not None:
        query = query.where(func.lower(jobs.c.type).in_([t.lower() for t in job_types]))
    total = (await conn.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    rows = await conn.execute(query.order_by(jobs.c.created_at.desc()).offset(offset).limit(limit))
    return [Job.from_row(r) for r in rows], int(total)


# ----------------------------------------------------------------------------- listings

#: Query Jobs lists background jobs under these ``jobType`` names (Tableau's).
BACKGROUND_TYPES = {
    "RefreshExtract": "refresh_extracts",
    "RunFlow": "run_flow",
    "PublishWorkbook": "publish_workbook",
    "PublishDatasource": "publish_datasource",
    "PublishFlow": "publish_flow",
}
#: ``subtitle`` of a background job: what kind of item it works on.
SUBTITLES = {"workbook": "Workbook", "datasource": "Data Source", "flow": "Flow"}
#: Tableau's job priority (1 to 100); tabhooks runs every job at the default.
PRIORITY = 50

_JOB_TYPE = case(BACKGROUND_TYPES, value=jobs.c.type, else_=jobs.c.type)
_SUBTITLE = case(SUBTITLES, value=jobs.c.content_kind, else_=jobs.c.content_kind)
#: ``args``: what the job was asked to work on (its item's kind, id and name).
_ARGS = jobs.c.content_kind + " " + func.coalesce(jobs.c.content_id, "") + " " + jobs.c.content_name


def _job_type(operator: str, values: tuple[Any, ...]) -> ColumnElement[bool]:
    """``jobType`` by Tableau's background job name (``refresh_extracts``) or by the job's own
    type (``RefreshExtract``), ignoring case."""
    wanted = [str(v).lower() for v in values]
    return or_(func.lower(_JOB_TYPE).in_(wanted), func.lower(jobs.c.type).in_(wanted))


#: Query Jobs: Tableau's job fields.
JOB_FIELDS: listing.Catalog = {
    "jobType": Field(Kind.TEXT, EQ_IN, _JOB_TYPE, test=_job_type),
    "status": Field(Kind.TEXT, EQ_IN, jobs.c.status),
    "progress": Field(Kind.NUMBER, RANGE, jobs.c.progress),
    "priority": Field(Kind.NUMBER, RANGE, listing.constant(PRIORITY)),
    "createdAt": Field(Kind.DATE, RANGE, jobs.c.created_at),
    "startedAt": Field(Kind.DATE, RANGE, jobs.c.started_at),
    "completedAt": Field(Kind.DATE, RANGE, jobs.c.completed_at),
    "title": Field(Kind.TEXT, frozenset({"eq", "has"}), jobs.c.content_name),
    "subtitle": Field(Kind.TEXT, frozenset({"eq", "has"}), _SUBTITLE),
    "notes": Field(Kind.TEXT, frozenset({"has"}), func.coalesce(jobs.c.notes, "")),
    "args": Field(Kind.TEXT, frozenset({"has"}), _ARGS, sortable=False),
}


async def search(
    conn: AsyncConnection, site_id: str, query: listing.Listing
) -> tuple[list[Job], int]:
    """One page of the site's jobs under Tableau's filters and sort (newest first unless
    asked otherwise)."""
    rows, total = await listing.page(
        conn,
        select(jobs).where(jobs.c.site_id == site_id),
        JOB_FIELDS,
        query,
        default=(listing.Order("createdAt", descending=True),),
        tiebreak=jobs.c.id,
    )
    return [Job.from_row(r) for r in rows], total


async def set_progress(conn: AsyncConnection, job_id: str, token: str, progress: int) -> bool:
    """Record how far a running job has come (a percentage), if the claim ``token`` still
    holds it; progress only moves forward."""
    result = await conn.execute(
        update(jobs)
        .where(_held(job_id, token), jobs.c.progress < progress)
        .values(progress=progress, updated_at=utcnow())
    )
    return result.rowcount > 0
