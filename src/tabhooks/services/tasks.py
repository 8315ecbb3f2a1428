"""Task use cases: add content to a schedule, list, get, run now and delete tasks, and Tableau
Cloud's extract refresh tasks that carry their own schedule.

Who may do what follows Tableau: site and server administrators see and manage every task of
the site; any other publisher sees and manages the tasks of the content they own.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tabhooks.errors import BadRequest, Conflict, RefreshQueued, TaskNotFound
from tabhooks.models import Content, ContentKind
from tabhooks.schedules.scheduler import queue_run
from tabhooks.services import contents as contents_service
from tabhooks.services import schedules as schedules_service
from tabhooks.services.principal import Principal
from tabhooks.store import Store
from tabhooks.store import jobs as jobs_store
from tabhooks.store import schedules as schedules_store
from tabhooks.store.jobs import Job
from tabhooks.store.schedules import ACTIVE, EXTRACT_REFRESH, RUN_FLOW, NewSchedule, Task
from tabhooks.store.tables import utcnow

#: The schedule type each task type needs.
_SCHEDULE_TYPE = {EXTRACT_REFRESH: "Extract", RUN_FLOW: "Flow"}
REFRESH_TYPES = {"fullrefresh": "FullRefresh", "incremental": "IncrementalRefresh",
                 "incrementalrefresh": "IncrementalRefresh"}  # fmt: skip


def refresh_type(raw: str | None) -> str:
    """``FullRefresh`` or ``IncrementalRefresh`` (TSC's sample sends ``Incremental``)."""
    if not raw or raw.lower() in ("extractrefresh", "refreshextracttask"):
        return "FullRefresh"
    found = REFRESH_TYPES.get(raw.lower())
    if found is None:
        raise BadRequest(f"type must be FullRefresh or IncrementalRefresh, not '{raw[:40]}'.")
    return found


def _require_content_admin(principal: Principal, content: Content) -> None:
    """Scheduling content is for its owner or an administrator."""
    contents_service.require_owner_or_admin(principal, content)


def _visible(principal: Principal, task: Task) -> bool:
    return principal.user.is_site_admin or task.owner_id == principal.user.id


async def _content(
    conn: AsyncConnection, principal: Principal, kind: ContentKind, cid: str
) -> Content:
    return await contents_service.require(conn, principal.site.id, kind, cid)


async def add_to_schedule(
    store: Store,
    principal: Principal,
    schedule_id: str,
    kind: ContentKind,
    content_id: str,
    task_type: str,
) -> Task:
    """Add Data Source / Workbook / Flow Task to Schedule."""
    contents_service.require_publisher(principal)
    if task_type not in _SCHEDULE_TYPE:
        raise BadRequest(f"The task must be extractRefresh or runFlow, not '{task_type[:40]}'.")
    if (kind is ContentKind.FLOW) != (task_type == RUN_FLOW):
        raise BadRequest(f"A {kind.value} cannot have a {task_type} task.")
    try:
        async with store.write() as conn:
            schedule = await schedules_service.require(conn, schedule_id)
            content = await _content(conn, principal, kind, content_id)
            _require_content_admin(principal, content)
            if schedule.type != _SCHEDULE_TYPE[task_type]:
                raise BadRequest(
                    f"Schedule '{schedule.name}' is a {schedule.type} schedule; a {task_type} "
                    f"task needs a {_SCHEDULE_TYPE[task_type]} schedule."
                )
            if await schedules_store.find_task(conn, schedule.id, content.id, task_type):
                raise Conflict(f"'{content.name}' is already on schedule '{schedule.name}'.")
            return await schedules_store.add_task(
                conn,
                site_id=principal.site.id,
                schedule_id=schedule.id,
                task_type=task_type,
                content_id=content.id,
                content_kind=kind.value,
                refresh_type="FullRefresh" if task_type == EXTRACT_REFRESH else "RunFlow",
                priority=schedule.priority,
                owner_id=content.owner_id,
            )
    except IntegrityError as exc:  # the same task added concurrently
        raise Conflict(f"That {kind.value} is already on this schedule.") from exc


async def listing(
    store: Store,
    principal: Principal,
    task_type: str,
    *,
    schedule_id: str | None = None,
    offset: int = 0,
    limit: int = 100,
) -> tuple[list[Task], int]:
    """The site's tasks of one type (an administrator's: all; anyone else's: their content's)."""
    async with store.read() as conn:
        if schedule_id is not None:
            await schedules_service.require(conn, schedule_id)
        found, total = await schedules_store.page_tasks(
            conn,
            principal.site.id,
            task_type=task_type,
            schedule_id=schedule_id,
            offset=offset,
            limit=limit,
        )
    if principal.user.is_site_admin:
        return found, total
    mine = [t for t in found if _visible(principal, t)]
    return mine, len(mine)


async def _require(
    conn: AsyncConnection, principal: Principal, task_id: str, task_type: str
) -> Task:
    task = await schedules_store.get_task(conn, principal.site.id, task_id, task_type)
    if task is None or not _visible(principal, task):
        raise TaskNotFound(f"No task with id '{task_id}' exists on this site.")
    return task


async def get(store: Store, principal: Principal, task_id: str, task_type: str) -> Task:
    async with store.read() as conn:
        return await _require(conn, principal, task_id, task_type)


async def run_now(store: Store, principal: Principal, task_id: str, task_type: str) -> Job:
    """Run Extract Refresh Task / Run Flow Task: the same job an on-demand refresh queues."""
    contents_service.require_publisher(principal)
    async with store.write() as conn:
        task = await _require(conn, principal, task_id, task_type)
        job_id = await queue_run(conn, task, utcnow())
        if job_id is None:
            raise RefreshQueued(
                f"Job for '{task.content_name}' is already queued. Not queuing a duplicate."
            )
        job = await jobs_store.get(conn, principal.site.id, job_id)
    store.new_jobs.set()
    assert job is not None
    return job


async def delete(store: Store, principal: Principal, task_id: str, task_type: str) -> None:
    """Delete a task; a Cloud task's own schedule goes with it."""
    contents_service.require_publisher(principal)
    async with store.write() as conn:
        task = await _require(conn, principal, task_id, task_type)
        await schedules_store.remove_task(conn, principal.site.id, task.id)
        if task.schedule.site_id is not None:
            await schedules_store.remove(conn, task.schedule.id)


async def create_cloud(
    store: Store,
    principal: Principal,
    kind: ContentKind,
    content_id: str,
    raw_type: str | None,
    frequency: schedules_service.Frequency,
    zone: ZoneInfo,
) -> Task:
    """Create Cloud Extract Refresh Task: a refresh with a schedule of its own."""
    contents_service.require_publisher(principal)
    if kind is ContentKind.FLOW:
        raise BadRequest("An extract refresh task targets a workbook or a data source.")
    kind_of_refresh = refresh_type(raw_type)
    own = _own_schedule(principal, frequency, zone)  # checked before anything is written
    async with store.write() as conn:
        content = await _content(conn, principal, kind, content_id)
        _require_content_admin(principal, content)
        schedule = await schedules_store.create(conn, own)
        return await schedules_store.add_task(
            conn,
            site_id=principal.site.id,
            schedule_id=schedule.id,
            task_type=EXTRACT_REFRESH,
            content_id=content.id,
            content_kind=kind.value,
            refresh_type=kind_of_refresh,
            priority=schedules_service.DEFAULT_PRIORITY,
            owner_id=content.owner_id,
        )


def _own_schedule(
    principal: Principal, frequency: schedules_service.Frequency, zone: ZoneInfo
) -> NewSchedule:
    recurrence = frequency.recurrence()
    return NewSchedule(
        site_id=principal.site.id,
        type="Extract",
        frequency=recurrence.frequency,
        start_time=recurrence.start.isoformat("seconds"),
        end_time=recurrence.end.isoformat("seconds") if recurrence.end else None,
        intervals=recurrence.intervals,
        priority=schedules_service.DEFAULT_PRIORITY,
        execution_order="Parallel",
        state=ACTIVE,
        next_run_at=schedules_service.next_run(recurrence, zone),
    )


async def update_cloud(
    store: Store,
    principal: Principal,
    task_id: str,
    raw_type: str | None,
    frequency: schedules_service.Frequency | None,
    zone: ZoneInfo,
) -> Task:
    """Update Cloud Extract Refresh Task: its refresh type and its own schedule's frequency."""
    contents_service.require_publisher(principal)
    async with store.write() as conn:
        task = await _require(conn, principal, task_id, EXTRACT_REFRESH)
        if task.schedule.site_id is None:
            raise BadRequest(
                "This task runs on a server schedule; change the schedule (Update Schedule) or "
                "delete the task and create one with its own schedule."
            )
        if raw_type:
            await schedules_store.change_task(conn, task.id, refresh_type=refresh_type(raw_type))
        if frequency is not None:
            spec = schedules_service.ScheduleSpec(frequency=frequency)
            await schedules_service.apply(conn, task.schedule, spec, zone)
        changed = await schedules_store.get_task(conn, principal.site.id, task.id)
    assert changed is not None
    return changed
