"""``/api/{v}/sites/{site_id}/tasks``: extract refresh tasks (list, get, run now, delete, and
Tableau Cloud's create/update with their own schedule) and flow run tasks (list, get, run now)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from tabhooks.api.deps import SiteCallerDep, StoreDep, require_version
from tabhooks.api.jobs import job_element
from tabhooks.api.schedules import frequency_details, read_frequency, schedule_element
from tabhooks.api.wire import no_content, page_of, read_body, respond
from tabhooks.errors import BadRequest
from tabhooks.models import ContentKind
from tabhooks.schedules.recurrence import zone_of
from tabhooks.services import tasks
from tabhooks.store.schedules import EXTRACT_REFRESH, RUN_FLOW, Task
from tabhooks.tsxml import Element, element, listing, timestamp

router = APIRouter(
    prefix="/api/{api_version}/sites/{site_id}/tasks", dependencies=[Depends(require_version())]
)

#: The element and ``type`` Tableau writes for each kind of task.
_WIRE = {
    EXTRACT_REFRESH: ("extractRefresh", "RefreshExtractTask"),
    RUN_FLOW: ("flowRun", "RunFlowTask"),
}


def task_element(task: Task) -> Element:
    """``<task><extractRefresh|flowRun …><schedule/><target/><lastRunAt/></…></task>``.

    A server schedule is written whole; a Cloud task's own schedule has no id or name, as
    Tableau Cloud writes it.
    """
    tag, wire_type = _WIRE[task.type]
    schedule = (
        schedule_element(task.schedule)
        if task.schedule.site_id is None
        else own_schedule_element(task)
    )
    return element(
        "task",
        element(
            tag,
            schedule,
            element(task.content_kind, id=task.content_id, name=task.content_name),
            element("lastRunAt", text=timestamp(task.last_run_at)) if task.last_run_at else None,
            id=task.id,
            priority=task.priority,
            consecutiveFailedCount=task.consecutive_failed_count,
            type=wire_type,
        ),
    )


def own_schedule_element(task: Task) -> Element:
    own = task.schedule
    return element(
        "schedule",
        frequency_details(own),
        createdAt=timestamp(own.created_at),
        updatedAt=timestamp(own.updated_at),
        frequency=own.frequency,
        nextRunAt=timestamp(own.next_run_at),
    )


def _cloud_answer(request: Request, task: Task, status: int) -> Response:
    """Create/Update Cloud Extract Refresh Task: the task and its schedule, side by side."""
    refresh = element(
        "extractRefresh",
        element(task.content_kind, id=task.content_id),
        id=task.id,
        priority=task.priority,
        consecutiveFailedCount=task.consecutive_failed_count,
        type=task.refresh_type,
    )
    return respond(request, refresh, own_schedule_element(task), status=status)


def _kind_routes(collection: str, kind: str, names: tuple[str, str, str]) -> None:
    """List, get and run-now for one kind of task: the same three handlers under ``collection``.

    Args:
        collection: The path segment below ``tasks`` (``extractRefreshes``, ``runFlow``).
        kind: The task type the handlers serve (a task of another type is not found there).
        names: The operation ids of the list, get and run-now routes, as Tableau names them.
    """

    async def list_tasks(request: Request, store: StoreDep, caller: SiteCallerDep) -> Response:
        page = page_of(request)
        found, total = await tasks.listing(store, caller, kind, offset=page.offset, limit=page.size)
        listed = listing("tasks", [task_element(t) for t in found])
        return respond(request, page.element(total), listed)

    async def get_task(
        request: Request, task_id: str, store: StoreDep, caller: SiteCallerDep
    ) -> Response:
        return respond(request, task_element(await tasks.get(store, caller, task_id, kind)))

    async def run_task(
        request: Request, task_id: str, store: StoreDep, caller: SiteCallerDep
    ) -> Response:
        return respond(request, job_element(await tasks.run_now(store, caller, task_id, kind)))

    list_id, get_id, run_id = names
    base = f"/{collection}"
    router.add_api_route(base, list_tasks, methods=["GET"], operation_id=list_id)
    router.add_api_route(f"{base}/{{task_id}}", get_task, methods=["GET"], operation_id=get_id)
    router.add_api_route(
        f"{base}/{{task_id}}/runNow", run_task, methods=["POST"], operation_id=run_id
    )


_kind_routes(
    "extractRefreshes",
    EXTRACT_REFRESH,
    ("listExtractRefreshTasks", "getExtractRefreshTask", "runExtractRefreshTask"),
)
_kind_routes("runFlow", RUN_FLOW, ("getFlowRunTasks", "getFlowRunTask", "runFlowTask"))


@router.delete(
    "/extractRefreshes/{task_id}", status_code=204, operation_id="deleteExtractRefreshTask"
)
async def delete_extract_refresh(task_id: str, store: StoreDep, caller: SiteCallerDep) -> Response:
    await tasks.delete(store, caller, task_id, EXTRACT_REFRESH)
    return no_content()


def _cloud_body(body: Element) -> tuple[Element, Element | None]:
    refresh = body.child("extractRefresh")
    if refresh is None:
        raise BadRequest("The request must contain an <extractRefresh> element.")
    return refresh, body.child("schedule")


@router.post("/extractRefreshes", operation_id="createCloudExtractRefreshTask")
async def create_cloud_task(request: Request, store: StoreDep, caller: SiteCallerDep) -> Response:
    refresh, schedule = _cloud_body(await read_body(request))
    frequency = read_frequency(schedule) if schedule is not None else None
    if frequency is None:
        raise BadRequest("The request must contain a <schedule> with frequency and details.")
    for kind in (ContentKind.WORKBOOK, ContentKind.DATASOURCE):
        target = refresh.child(kind.value)
        if target is not None and target.attr("id"):
            task = await tasks.create_cloud(
                store,
                caller,
                kind,
                target.attr("id") or "",
                refresh.attr("type"),
                frequency,
                zone_of(request.app.state.settings.schedule_timezone),
            )
            return _cloud_answer(request, task, 200)
    raise BadRequest(
        'The <extractRefresh> must name a <workbook id="..."/> or <datasource id="..."/>.'
    )


@router.post("/extractRefreshes/{task_id}", operation_id="updateCloudExtractRefreshTask")
async def update_cloud_task(
    request: Request, task_id: str, store: StoreDep, caller: SiteCallerDep
) -> Response:
    refresh, schedule = _cloud_body(await read_body(request))
    task = await tasks.update_cloud(
        store,
        caller,
        task_id,
        refresh.attr("type"),
        read_frequency(schedule) if schedule is not None else None,
        zone_of(request.app.state.settings.schedule_timezone),
    )
    return _cloud_answer(request, task, 200)
