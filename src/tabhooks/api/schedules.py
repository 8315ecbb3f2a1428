"""Server schedules (``/api/{v}/schedules``) and adding content to them
(``/api/{v}/sites/{site_id}/schedules/{id}/datasources|workbooks|flows|extracts``)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from tabhooks.api.deps import CallerDep, SiteCallerDep, StoreDep, require_version
from tabhooks.api.wire import filters_of, no_content, page_of, read_body, respond
from tabhooks.errors import BadRequest
from tabhooks.models import ContentKind
from tabhooks.schedules.recurrence import zone_of
from tabhooks.services import schedules, tasks
from tabhooks.store.schedules import EXTRACT_REFRESH, RUN_FLOW, Schedule, Task
from tabhooks.tsxml import Element, element, listing, timestamp

router = APIRouter(prefix="/api/{api_version}/schedules", dependencies=[Depends(require_version())])
site_router = APIRouter(
    prefix="/api/{api_version}/sites/{site_id}/schedules", dependencies=[Depends(require_version())]
)


def _zone(request: Request) -> ZoneInfo:
    return zone_of(request.app.state.settings.schedule_timezone)


def frequency_details(schedule: Schedule) -> Element:
    intervals = [element("interval", **{o: v}) for o, v in schedule.intervals]
    return element(
        "frequencyDetails",
        listing("intervals", intervals) if intervals else None,
        start=schedule.start_time,
        end=schedule.end_time,
    )


def schedule_element(schedule: Schedule, *, details: bool = True) -> Element:
    """A ``<schedule>`` as Tableau writes it (Query Schedules leaves out the details)."""
    return element(
        "schedule",
        frequency_details(schedule) if details else None,
        id=schedule.id,
        name=schedule.name,
        state=schedule.state,
        priority=schedule.priority,
        createdAt=timestamp(schedule.created_at),
        updatedAt=timestamp(schedule.updated_at),
        type=schedule.type,
        frequency=schedule.frequency,
        nextRunAt=timestamp(schedule.next_run_at),
        executionOrder=schedule.execution_order,
    )


def read_frequency(schedule: Element) -> schedules.Frequency | None:
    """``frequency`` and ``<frequencyDetails>`` of a request's ``<schedule>``; ``None`` if
    neither is there."""
    details = schedule.child("frequencyDetails")
    if details is None and schedule.attr("frequency") is None:
        return None
    pairs: list[tuple[str, str]] = []
    holder = details.child("intervals") if details is not None else None
    for interval in holder.all("interval") if holder is not None else ():
        if not interval.attrs:
            raise BadRequest("Each <interval> needs one of minutes, hours, weekDay or monthDay.")
        pairs.extend((name, interval.attr(name) or "") for name in interval.attrs)
    return schedules.Frequency(
        frequency=schedule.attr("frequency"),
        start=details.attr("start") if details is not None else None,
        end=details.attr("end") if details is not None else None,
        intervals=pairs,
    )


def _spec(body: Element) -> schedules.ScheduleSpec:
    schedule = body.child("schedule")
    if schedule is None:
        raise BadRequest("The request must contain a <schedule> element.")
    return schedules.ScheduleSpec(
        name=schedule.attr("name"),
        priority=schedule.attr("priority"),
        type=schedule.attr("type"),
        execution_order=schedule.attr("executionOrder"),
        state=schedule.attr("state"),
        frequency=read_frequency(schedule),
    )


@router.post("", status_code=201, operation_id="createSchedule")
async def create_schedule(request: Request, store: StoreDep, caller: CallerDep) -> Response:
    spec = _spec(await read_body(request))
    created = await schedules.create(store, caller, spec, _zone(request))
    return respond(request, schedule_element(created), status=201)


@router.get("", operation_id="querySchedules")
async def query_schedules(request: Request, store: StoreDep, caller: CallerDep) -> Response:
    page = page_of(request)
    conditions = filters_of(request, {"name": {"eq", "in"}})
    found, total = await schedules.listing(
        store,
        caller,
        names=conditions["name"].values if "name" in conditions else None,
        offset=page.offset,
        limit=page.size,
    )
    return respond(
        request,
        page.element(total),
        listing("schedules", [schedule_element(s, details=False) for s in found]),
    )


@router.get("/{schedule_id}", operation_id="getSchedule")
async def get_schedule(
    request: Request, schedule_id: str, store: StoreDep, caller: CallerDep
) -> Response:
    return respond(request, schedule_element(await schedules.get(store, caller, schedule_id)))


@router.put("/{schedule_id}", operation_id="updateSchedule")
async def update_schedule(
    request: Request, schedule_id: str, store: StoreDep, caller: CallerDep
) -> Response:
    spec = _spec(await read_body(request))
    changed = await schedules.update(store, caller, schedule_id, spec, _zone(request))
    return respond(request, schedule_element(changed))


@router.delete("/{schedule_id}", status_code=204, operation_id="deleteSchedule")
async def delete_schedule(schedule_id: str, store: StoreDep, caller: CallerDep) -> Response:
    await schedules.delete(store, caller, schedule_id)
    return no_content()


# ------------------------------------------------------------------- content on a schedule


def added_element(task: Task) -> Element:
    """Add … to Schedule's answer: the task, its schedule and its content."""
    return element(
        "task",
        element(
            task.type,
            element("schedule", id=task.schedule.id),
            element(task.content_kind, id=task.content_id),
            id=task.id,
        ),
    )


async def _add(
    request: Request, store: StoreDep, caller: SiteCallerDep, schedule_id: str, kind: ContentKind
) -> Response:
    body = await read_body(request)
    task = body.child("task")
    detail = task.children[0] if task is not None and task.children else None
    target = detail.child(kind.value) if detail is not None else None
    content_id = target.attr("id") if target is not None else None
    if detail is None or not content_id:
        raise BadRequest(
            f'The request must contain <task><extractRefresh><{kind.value} id="..."/>'
            "</extractRefresh></task> (runFlow for a flow)."
        )
    added = await tasks.add_to_schedule(store, caller, schedule_id, kind, content_id, detail.tag)
    return respond(request, added_element(added))


@site_router.put("/{schedule_id}/datasources", operation_id="addDataSourceToSchedule")
async def add_datasource(
    request: Request, schedule_id: str, store: StoreDep, caller: SiteCallerDep
) -> Response:
    return await _add(request, store, caller, schedule_id, ContentKind.DATASOURCE)


@site_router.put("/{schedule_id}/workbooks", operation_id="addWorkbookToSchedule")
async def add_workbook(
    request: Request, schedule_id: str, store: StoreDep, caller: SiteCallerDep
) -> Response:
    return await _add(request, store, caller, schedule_id, ContentKind.WORKBOOK)


@site_router.put("/{schedule_id}/flows", operation_id="addFlowTaskToSchedule")
async def add_flow(
    request: Request, schedule_id: str, store: StoreDep, caller: SiteCallerDep
) -> Response:
    return await _add(request, store, caller, schedule_id, ContentKind.FLOW)


def extract_element(task: Task) -> Element:
    return element(
        "extract",
        element(task.content_kind, id=task.content_id),
        id=task.id,
        priority=task.priority,
        type=task.refresh_type,
    )


@site_router.get("/{schedule_id}/extracts", operation_id="queryExtractRefreshTasksForSchedule")
async def schedule_extracts(
    request: Request, schedule_id: str, store: StoreDep, caller: SiteCallerDep
) -> Response:
    page = page_of(request)
    found, total = await tasks.listing(
        store,
        caller,
        EXTRACT_REFRESH,
        schedule_id=schedule_id,
        offset=page.offset,
        limit=page.size,
    )
    return respond(
        request, page.element(total), listing("extracts", [extract_element(t) for t in found])
    )


__all__ = ["RUN_FLOW", "router", "schedule_element", "site_router"]
