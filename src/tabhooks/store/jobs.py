"""Named statements over ``jobs``: enqueue, claim, finish, cancel and inspect.

Jobs are queued like deliveries: claimed under a lease (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL), so a runner that dies mid-job leaves it to be picked up again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tabhooks.store.tables import jobs, utcnow


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


async def claim(conn: AsyncConnection, *, limit: int, lease_s: float) -> list[tuple[Job, bool]]:
    """Take pending jobs (and in-progress ones whose runner's lease ran out).

    Returns each job with whether it is starting for the first time (not taken over).
    """
    now = utcnow()
    due = (
        select(jobs.c.id, jobs.c.status)
        .where(
            or_(
                jobs.c.status == JobStatus.PENDING.value,
                and_(jobs.c.status == JobStatus.IN_PROGRESS.value, jobs.c.lease_expires_at <= now),
            )
        )
        .order_by(jobs.c.created_at)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    found = {row.id: row.status == JobStatus.PENDING.value for row in await conn.execute(due)}
    ids = list(found)
    if not ids:
        return []
    await conn.execute(
        update(jobs)
        .where(jobs.c.id.in_(ids))
        .values(
            status=JobStatus.IN_PROGRESS.value,
            started_at=func.coalesce(jobs.c.started_at, now),
            lease_expires_at=now + timedelta(seconds=lease_s),
            progress=10,
            updated_at=now,
        )
    )
    rows = await conn.execute(select(jobs).where(jobs.c.id.in_(ids)).order_by(jobs.c.created_at))
    return [(Job.from_row(r), found[r.id]) for r in rows]


async def finish(conn: AsyncConnection, job_id: str, status: JobStatus, notes: str | None) -> bool:
    """Record the outcome unless the job was cancelled meanwhile; True if recorded."""
    now = utcnow()
    result = await conn.execute(
        update(jobs)
        .where(jobs.c.id == job_id, jobs.c.status == JobStatus.IN_PROGRESS.value)
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
    now = utcnow()
    result = await conn.execute(
        update(jobs)
        .where(jobs.c.site_id == site_id, jobs.c.id == job_id, jobs.c.status.in_(_ACTIVE))
        .values(
            status=JobStatus.CANCELLED.value,
            finish_code=FINISH_CODES[JobStatus.CANCELLED],
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
