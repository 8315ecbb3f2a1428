"""Refresh now, run flow now, and ``/api/{v}/sites/{site_id}/jobs`` (get, list, cancel)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from tabhooks.api.deps import SiteCallerDep, StoreDep, require_version
from tabhooks.api.wire import (
    Shape,
    fields_of,
    listing_of,
    page_of,
    read_body,
    respond,
    select_fields,
)
from tabhooks.models import ContentKind
from tabhooks.services import jobs
from tabhooks.store.jobs import BACKGROUND_TYPES, JOB_FIELDS, PRIORITY, SUBTITLES, Job, JobStatus
from tabhooks.tsxml import Element, element, listing, timestamp

router = APIRouter(
    prefix="/api/{api_version}/sites/{site_id}", dependencies=[Depends(require_version())]
)


def job_element(job: Job) -> Element:
    finished = job.status in (JobStatus.SUCCESS, JobStatus.FAILED, JobStatus.CANCELLED)
    target = element(job.content_kind, id=job.content_id, name=job.content_name)
    notes = element("notes", text=job.notes) if job.notes else None
    detail: Element | None = None
    if job.type == jobs.RUN_FLOW:
        detail = element("runFlowJobType", target, flowRunId=job.id)
    elif job.type == jobs.REFRESH:
        detail = element("extractRefreshJob", notes, target)
    return element(
        "job",
        detail,
        id=job.id,
        mode="Asynchronous",
        type=job.type,
        progress=job.progress,
        createdAt=timestamp(job.created_at),
        startedAt=timestamp(job.started_at),
        updatedAt=timestamp(job.completed_at or job.started_at or job.created_at),
        completedAt=timestamp(job.completed_at) if finished else None,
        finishCode=job.finish_code if finished else None,
    )


#: What ``fields=`` may name on Query Jobs.
SHAPE = Shape(
    frozenset(
        {
            "id",
            "status",
            "createdAt",
            "startedAt",
            "endedAt",
            "priority",
            "jobType",
            "title",
            "subtitle",
        }
    ),
    {},
)


def background_job_element(job: Job) -> Element:
    return element(
        "backgroundJob",
        id=job.id,
        status=job.status.value,
        createdAt=timestamp(job.created_at),
        startedAt=timestamp(job.started_at),
        endedAt=timestamp(job.completed_at),
        priority=PRIORITY,
        jobType=BACKGROUND_TYPES.get(job.type, job.type),
        title=job.content_name,
        subtitle=SUBTITLES.get(job.content_kind, job.content_kind),
    )


async def _refresh(
    request: Request, store: StoreDep, caller: SiteCallerDep, kind: ContentKind, content_id: str
) -> Response:
    body = await read_body(request)
    refresh = body.child("extractRefresh")
    incremental = bool(refresh.attr_bool("incremental")) if refresh is not None else False
    job = await jobs.enqueue(store, caller, kind, content_id, incremental=incremental)
    return respond(request, job_element(job), status=202)


@router.post("/workbooks/{workbook_id}/refresh", status_code=202, operation_id="updateWorkbookNow")
async def refresh_workbook(
    request: Request, workbook_id: str, store: StoreDep, caller: SiteCallerDep
) -> Response:
    return await _refresh(request, store, caller, ContentKind.WORKBOOK, workbook_id)


@router.post(
    "/datasources/{datasource_id}/refresh", status_code=202, operation_id="updateDataSourceNow"
)
async def refresh_datasource(
    request: Request, datasource_id: str, store: StoreDep, caller: SiteCallerDep
) -> Response:
    return await _refresh(request, store, caller, ContentKind.DATASOURCE, datasource_id)


@router.post("/flows/{flow_id}/run", operation_id="runFlowNow")
async def run_flow(
    request: Request, flow_id: str, store: StoreDep, caller: SiteCallerDep
) -> Response:
    job = await jobs.enqueue(store, caller, ContentKind.FLOW, flow_id, incremental=False)
    return respond(request, job_element(job))


@router.get("/jobs/{job_id}", operation_id="queryJob")
async def get_job(
    request: Request, job_id: str, store: StoreDep, caller: SiteCallerDep
) -> Response:
    return respond(request, job_element(await jobs.get(store, caller, job_id)))


@router.get("/jobs", operation_id="queryJobs")
async def list_jobs(request: Request, store: StoreDep, caller: SiteCallerDep) -> Response:
    page = page_of(request)
    query = listing_of(request, JOB_FIELDS, page)
    asked = fields_of(request, SHAPE)
    found, total = await jobs.search(store, caller, query)
    items = [select_fields(background_job_element(j), asked) for j in found]
    return respond(request, page.element(total), listing("backgroundJobs", items))


@router.put("/jobs/{job_id}", operation_id="cancelJob")
async def cancel_job(
    request: Request, job_id: str, store: StoreDep, caller: SiteCallerDep
) -> Response:
    return respond(request, job_element(await jobs.cancel(store, caller, job_id)))
