"""Named statements over ``schedules`` and ``tasks``: create, read, change, and claim due runs.

Claiming is what makes a due run happen once across processes: :func:`claim_due` locks the
due schedule rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, the file's write lock on SQLite),
and the caller moves each one's ``next_run_at`` on and queues its jobs in that same
transaction. Either all of it commits or none of it does: a process killed half-way leaves the
schedule due for the next claim, and a committed claim is no longer due for anyone.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tabhooks.store.backend import backend_of
from tabhooks.store.tables import contents, jobs, schedules, tasks, utcnow

ACTIVE, SUSPENDED = "Active", "Suspended"
#: One ``<interval occurrence="value"/>``: ``("hours", "2")``, ``("weekDay", "Monday")``.
Interval = tuple[str, str]
EXTRACT_REFRESH, RUN_FLOW = "extractRefresh", "runFlow"


@dataclass(frozen=True, slots=True)
class Schedule:
    id: str
    site_id: str | None
    name: str | None
    type: str
    frequency: str
    start_time: str
    end_time: str | None
    intervals: tuple[Interval, ...]
    priority: int
    execution_order: str
    state: str
    next_run_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Schedule:
        return cls.from_mapping(row._mapping)

    @classmethod
    def from_mapping(cls, m: Any) -> Schedule:
        return cls(
            id=m["id"],
            site_id=m["site_id"],
            name=m["name"],
            type=m["type"],
            frequency=m["frequency"],
            start_time=m["start_time"],
            end_time=m["end_time"],
            intervals=tuple((o, v) for o, v in json.loads(m["intervals"])),
            priority=int(m["priority"]),
            execution_order=m["execution_order"],
            state=m["state"],
            next_run_at=m["next_run_at"],
            created_at=m["created_at"],
            updated_at=m["updated_at"],
        )


@dataclass(frozen=True, slots=True)
class Task:
    id: str
    site_id: str
    schedule: Schedule
    type: str
    content_id: str
    content_kind: str
    content_name: str
    refresh_type: str
    priority: int
    owner_id: str | None
    last_run_at: datetime | None
    created_at: datetime
    #: Runs that failed since the last one that succeeded (Tableau's consecutiveFailedCount).
    consecutive_failed_count: int = 0


@dataclass(frozen=True, slots=True)
class NewSchedule:
    type: str
    frequency: str
    start_time: str
    end_time: str | None
    intervals: Sequence[Interval]
    priority: int
    execution_order: str
    state: str
    next_run_at: datetime | None
    name: str | None = None
    site_id: str | None = None


def encode_intervals(intervals: Sequence[Interval]) -> str:
    return json.dumps([list(pair) for pair in intervals])


async def create(conn: AsyncConnection, new: NewSchedule) -> Schedule:
    now = utcnow()
    schedule_id = str(uuid.uuid4())
    await conn.execute(
        insert(schedules).values(
            id=schedule_id,
            site_id=new.site_id,
            name=new.name,
            type=new.type,
            frequency=new.frequency,
            start_time=new.start_time,
            end_time=new.end_time,
            intervals=encode_intervals(new.intervals),
            priority=new.priority,
            execution_order=new.execution_order,
            state=new.state,
            next_run_at=new.next_run_at,
            created_at=now,
            updated_at=now,
        )
    )
    found = await get(conn, schedule_id)
    assert found is not None
    return found


async def get(conn: AsyncConnection, schedule_id: str) -> Schedule | None:
    row = (await conn.execute(select(schedules).where(schedules.c.id == schedule_id))).first()
    return Schedule.from_row(row) if row else None


async def named(conn: AsyncConnection, name: str) -> Schedule | None:
    row = (await conn.execute(select(schedules).where(schedules.c.name == name))).first()
    return Schedule.from_row(row) if row else None


async def page(
    conn: AsyncConnection, *, names: tuple[str, ...] | None, offset: int, limit: int
) -> tuple[list[Schedule], int]:
    """Server schedules (not Cloud tasks' own), soonest next run first."""
    query = select(schedules).where(schedules.c.site_id.is_(None))
    if names is not None:
        query = query.where(schedules.c.name.in_(names))
    total = (await conn.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    rows = await conn.execute(
        query.order_by(schedules.c.next_run_at.is_(None), schedules.c.next_run_at, schedules.c.name)
        .offset(offset)
        .limit(limit)
    )
    return [Schedule.from_row(r) for r in rows], int(total)


async def change(conn: AsyncConnection, schedule_id: str, **values: object) -> None:
    if "intervals" in values:
        values["intervals"] = encode_intervals(values["intervals"])  # type: ignore[arg-type]
    await conn.execute(
        update(schedules).where(schedules.c.id == schedule_id).values(updated_at=utcnow(), **values)
    )


async def remove(conn: AsyncConnection, schedule_id: str) -> bool:
    result = await conn.execute(delete(schedules).where(schedules.c.id == schedule_id))
    return result.rowcount > 0


async def claim_due(conn: AsyncConnection, now: datetime, limit: int) -> list[Schedule]:
    """Lock active schedules whose next run has come, oldest first.

    On PostgreSQL rows another process has locked are skipped, not waited for: that process
    is running them. Call in a write transaction that also moves each one's ``next_run_at``.
    """
    query = (
        select(schedules)
        .where(
            schedules.c.state == ACTIVE,
            schedules.c.next_run_at.is_not(None),
            schedules.c.next_run_at <= now,
        )
        .order_by(schedules.c.next_run_at, schedules.c.id)
        .limit(limit)
    )
    query = backend_of(conn).lock_rows(query, skip_locked=True)
    return [Schedule.from_row(r) for r in await conn.execute(query)]


# ------------------------------------------------------------------------------------ tasks


def _tasks_query() -> Any:
    return (
        select(
            tasks,
            contents.c.name.label("content_name"),
            *[c.label(f"s_{c.name}") for c in schedules.c],
        )
        .join(schedules, schedules.c.id == tasks.c.schedule_id)
        .join(contents, contents.c.id == tasks.c.content_id)
    )


def _task_from_row(row: Any, failed: int = 0) -> Task:
    m = row._mapping
    schedule = Schedule.from_mapping({c.name: m[f"s_{c.name}"] for c in schedules.c})
    return Task(
        id=m["id"],
        site_id=m["site_id"],
        schedule=schedule,
        type=m["type"],
        content_id=m["content_id"],
        content_kind=m["content_kind"],
        content_name=m["content_name"],
        refresh_type=m["refresh_type"],
        priority=int(m["priority"]),
        owner_id=m["owner_id"],
        last_run_at=m["last_run_at"],
        created_at=m["created_at"],
        consecutive_failed_count=failed,
    )


async def _failures(conn: AsyncConnection, content_id: str, job_type: str) -> int:
    """Finished runs of the content that failed since its last success."""
    rows = await conn.execute(
        select(jobs.c.status)
        .where(
            jobs.c.content_id == content_id,
            jobs.c.type == job_type,
            jobs.c.status.in_(("Success", "Failed")),
        )
        .order_by(jobs.c.completed_at.desc())
        .limit(100)
    )
    count = 0
    for row in rows:
        if row.status != "Failed":
            break
        count += 1
    return count


def job_type_of(task_type: str) -> str:
    """The job a task's run queues (see :mod:`tabhooks.services.jobs`)."""
    return "RunFlow" if task_type == RUN_FLOW else "RefreshExtract"


async def _with_failures(conn: AsyncConnection, rows: Any) -> list[Task]:
    out = []
    for row in rows:
        m = row._mapping
        failed = await _failures(conn, m["content_id"], job_type_of(m["type"]))
        out.append(_task_from_row(row, failed))
    return out


async def add_task(
    conn: AsyncConnection,
    *,
    site_id: str,
    schedule_id: str,
    task_type: str,
    content_id: str,
    content_kind: str,
    refresh_type: str,
    priority: int,
    owner_id: str | None,
) -> Task:
    task_id = str(uuid.uuid4())
    await conn.execute(
        insert(tasks).values(
            id=task_id,
            site_id=site_id,
            schedule_id=schedule_id,
            type=task_type,
            content_id=content_id,
            content_kind=content_kind,
            refresh_type=refresh_type,
            priority=priority,
            owner_id=owner_id,
            created_at=utcnow(),
        )
    )
    found = await get_task(conn, site_id, task_id)
    assert found is not None
    return found


async def find_task(
    conn: AsyncConnection, schedule_id: str, content_id: str, task_type: str
) -> Task | None:
    row = (
        await conn.execute(
            _tasks_query().where(
                tasks.c.schedule_id == schedule_id,
                tasks.c.content_id == content_id,
                tasks.c.type == task_type,
            )
        )
    ).first()
    return _task_from_row(row) if row else None


async def get_task(
    conn: AsyncConnection, site_id: str, task_id: str, task_type: str | None = None
) -> Task | None:
    query = _tasks_query().where(tasks.c.site_id == site_id, tasks.c.id == task_id)
    if task_type is not None:
        query = query.where(tasks.c.type == task_type)
    found = await _with_failures(conn, (await conn.execute(query)).all())
    return found[0] if found else None


async def page_tasks(
    conn: AsyncConnection,
    site_id: str,
    *,
    task_type: str | None = None,
    schedule_id: str | None = None,
    content_id: str | None = None,
    offset: int = 0,
    limit: int = 100,
) -> tuple[list[Task], int]:
    query = _tasks_query().where(tasks.c.site_id == site_id)
    if task_type is not None:
        query = query.where(tasks.c.type == task_type)
    if schedule_id is not None:
        query = query.where(tasks.c.schedule_id == schedule_id)
    if content_id is not None:
        query = query.where(tasks.c.content_id == content_id)
    total = (await conn.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    rows = (
        await conn.execute(
            query.order_by(tasks.c.created_at, tasks.c.id).offset(offset).limit(limit)
        )
    ).all()
    return await _with_failures(conn, rows), int(total)


async def tasks_of(conn: AsyncConnection, schedule_id: str) -> list[Task]:
    """Every task of a schedule, over all sites, highest priority (lowest number) first."""
    rows = await conn.execute(
        _tasks_query()
        .where(tasks.c.schedule_id == schedule_id)
        .order_by(tasks.c.priority, tasks.c.created_at, tasks.c.id)
    )
    return [_task_from_row(r) for r in rows]


async def count_tasks(conn: AsyncConnection, schedule_ids: Sequence[str]) -> dict[str, int]:
    if not schedule_ids:
        return {}
    rows = await conn.execute(
        select(tasks.c.schedule_id, func.count().label("n"))
        .where(tasks.c.schedule_id.in_(list(schedule_ids)))
        .group_by(tasks.c.schedule_id)
    )
    return {r.schedule_id: int(r.n) for r in rows}


async def ran(conn: AsyncConnection, task_id: str, at: datetime) -> None:
    await conn.execute(update(tasks).where(tasks.c.id == task_id).values(last_run_at=at))


async def remove_task(conn: AsyncConnection, site_id: str, task_id: str) -> bool:
    result = await conn.execute(
        delete(tasks).where(tasks.c.site_id == site_id, tasks.c.id == task_id)
    )
    return result.rowcount > 0


async def move_on(conn: AsyncConnection, schedule_id: str, next_run_at: datetime) -> None:
    """Set a claimed schedule's next run (its ``updatedAt`` is about edits, not runs)."""
    await conn.execute(
        update(schedules).where(schedules.c.id == schedule_id).values(next_run_at=next_run_at)
    )


async def change_task(conn: AsyncConnection, task_id: str, **values: object) -> None:
    await conn.execute(update(tasks).where(tasks.c.id == task_id).values(**values))
