"""Job use cases: queue an extract refresh or a flow run, query and cancel jobs."""

from __future__ import annotations

from tabhooks.errors import BadRequest, Conflict, Forbidden, JobNotFound, RefreshQueued
from tabhooks.models import Content, ContentKind
from tabhooks.services import contents as contents_service
from tabhooks.services import permissions
from tabhooks.services.principal import Principal
from tabhooks.store import Store
from tabhooks.store import jobs as jobs_store
from tabhooks.store.jobs import Job, JobStatus
from tabhooks.store.listing import Listing

REFRESH = "RefreshExtract"
RUN_FLOW = "RunFlow"


async def enqueue(
    store: Store, principal: Principal, kind: ContentKind, content_id: str, *, incremental: bool
) -> Job:
    """Queue a refresh (workbook/data source) or a run (flow); a second one while queued is
    Tableau's 409093.

    Refreshing needs ``ExtractRefresh`` or ``Write`` on the item (running a flow ``Execute`` or
    ``Write``), after Read (else its 404); refused, Tableau's 403032 (flows: 403004).
    """
    flow = kind is ContentKind.FLOW
    job_type = RUN_FLOW if flow else REFRESH
    site_id = principal.site.id
    async with store.write() as conn:
        content = await contents_service.require(conn, site_id, kind, content_id)
        await permissions.require(
            conn, principal, content,
            (permissions.EXECUTE if flow else permissions.EXTRACT_REFRESH, permissions.WRITE),
            code="403004" if flow else "403032", doing="run" if flow else "refresh",
        )  # fmt: skip
        if await jobs_store.active_for(conn, content_id, job_type) is not None:
            raise RefreshQueued(
                f"Job for '{content.name}' is already queued. Not queuing a duplicate."
            )
        job = await jobs_store.enqueue(
            conn,
            site_id=site_id,
            job_type=job_type,
            content_id=content_id,
            content_kind=kind.value,
            content_name=content.name,
            incremental=incremental,
            owner_id=principal.user.id,
        )
    store.new_jobs.set()
    return job


async def get(store: Store, principal: Principal, job_id: str) -> Job:
    async with store.read() as conn:
        job = await jobs_store.get(conn, principal.site.id, job_id)
    if job is None:
        raise JobNotFound(f"No job with id '{job_id}' exists on this site.")
    return job


_STATUSES = {s.value for s in JobStatus}


async def listing(
    store: Store,
    principal: Principal,
    *,
    statuses: tuple[str, ...] | None,
    job_types: tuple[str, ...] | None,
    offset: int,
    limit: int,
) -> tuple[list[Job], int]:
    principal.require_site_admin()
    if statuses is not None and not set(statuses) <= _STATUSES:
        raise BadRequest(f"status must be one of {', '.join(sorted(_STATUSES))}.")
    async with store.read() as conn:
        return await jobs_store.page(
            conn,
            principal.site.id,
            statuses=statuses,
            job_types=job_types,
            offset=offset,
            limit=limit,
        )


async def search(store: Store, principal: Principal, query: Listing) -> tuple[list[Job], int]:
    """Query Jobs (site administrators): Tableau's filters, sort and page."""
    principal.require_site_admin()
    for term in query.filters:
        if term.field == "status" and not set(term.values) <= _STATUSES:
            raise BadRequest(f"status must be one of {', '.join(sorted(_STATUSES))}.")
    async with store.read() as conn:
        return await jobs_store.search(conn, principal.site.id, query)


async def cancel(store: Store, principal: Principal, job_id: str) -> Job:
    """Cancel a queued or running job: the user who queued it, or a site or server admin."""
    contents_service.require_publisher(principal)
    async with store.write() as conn:
        job = await jobs_store.get(conn, principal.site.id, job_id)
        if job is None:
            raise JobNotFound(f"No job with id '{job_id}' exists on this site.")
        owner = await jobs_store.owner_of(conn, principal.site.id, job_id)
        if not principal.user.is_site_admin and owner != principal.user.id:
            raise Forbidden(
                f"Only the user who queued job '{job_id}' or an administrator can cancel it."
            )
        if not await jobs_store.cancel(conn, principal.site.id, job_id):
            raise Conflict(f"Job '{job_id}' has already finished ({job.status}).")
        cancelled = await jobs_store.get(conn, principal.site.id, job_id)
    assert cancelled is not None
    return cancelled


async def record_publish(
    store: Store, principal: Principal, job_type: str, content: Content
) -> Job:
    """Publishing is done before the answer; ``asJob=true`` still gets a job it can query."""
    async with store.write() as conn:
        return await jobs_store.record_done(
            conn,
            site_id=principal.site.id,
            job_type=job_type,
            content_id=content.id,
            content_kind=content.kind.value,
            content_name=content.name,
            owner_id=principal.user.id,
        )
