"""``/tabhooks/v1/inbox``: the inspector's bins and captured requests, in plain JSON.

Any signed-in user (``X-Tableau-Auth``) may create bins; a bin belongs to the caller's site
and is visible to that site's users only. Its ``signing_secret`` is shown only to those who
may manage it (:func:`tabhooks.inbox.bins.may_manage`); others read ``null``. The capture URL
each bin answers on, ``url``, needs no credentials (see :mod:`tabhooks.inbox.capture`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response

from tabhooks import hosts
from tabhooks.api.deps import CallerDep, StoreDep
from tabhooks.api.wire import base_url
from tabhooks.delivery.sender import Sender
from tabhooks.inbox import bins, history, replay
from tabhooks.inbox.bins import Bin, BinChanges
from tabhooks.inbox.hub import InboxHub
from tabhooks.inbox.inspection import Captured
from tabhooks.services.principal import Principal

router = APIRouter(prefix="/tabhooks/v1/inbox", tags=["inbox"])


class BinSettings(BaseModel):
    """Everything a bin can be told; omitted fields keep their value (or default)."""

    name: str | None = Field(default=None, description="A label for people.")
    max_requests: int | None = Field(default=None, description="Newest requests kept (1 to 10000).")
    max_age_s: int | None = Field(
        default=None, description="Seconds a request is kept (up to 30 days)."
    )
    response_status: int | None = Field(default=None, description="Status answered (200 to 599).")
    response_headers: dict[str, str] | None = Field(default=None, description="Headers answered.")
    response_body: str | None = Field(default=None, description="Body answered.")
    response_delay_s: float | None = Field(
        default=None, description="Delay before answering (0-30 s)."
    )
    fail_next: int | None = Field(default=None, description="Fail the next N requests.")
    fail_percent: int | None = Field(default=None, description="Fail this % of requests at random.")
    fail_status: int | None = Field(default=None, description="Status of a failure (300 to 599).")
    never_answer: bool | None = Field(
        default=None, description="Hold requests until the sender quits."
    )
    signing_secret: str | None = Field(
        default=None,
        description="A `whsec_` secret to verify Standard Webhooks signatures; '' removes.",
    )

    def changes(self) -> BinChanges:
        return BinChanges(**self.model_dump())


class BinOut(BaseModel):
    id: str
    url: str = Field(description="The capture URL: any method, path below it, query and body.")
    ui_url: str = Field(description="The live page.")
    name: str
    created_at: datetime
    max_requests: int
    max_age_s: int
    response_status: int
    response_headers: dict[str, str]
    response_body: str
    response_delay_s: float
    fail_next: int = Field(description="Forced failures still to come.")
    fail_percent: int
    fail_status: int
    never_answer: bool
    signing_secret: str | None = Field(
        description="Shown to the bin's creator and site or server administrators; else null."
    )
    request_count: int | None = None
    last_received_at: datetime | None = None


class BinList(BaseModel):
    bins: list[BinOut]


class RequestOut(BaseModel):
    id: str
    method: str
    path: str = Field(description="Below the bin's URL ('' for the URL itself).")
    query: str
    headers: list[tuple[str, str]]
    body: str = Field(description="UTF-8 text, or base64 when `body_base64`.")
    body_base64: bool
    body_size: int = Field(description="Bytes received; more than kept when `truncated`.")
    truncated: bool
    client_addr: str | None
    received_at: datetime
    response_status: int | None = Field(description="What the bin answered; null if never.")
    note: str | None
    webhook_id: str | None
    duplicate: bool = Field(description="Another held request carries the same webhook-id.")
    occurrence: int
    occurrences: int
    signature: str | None = Field(description="valid/stale/invalid/unsigned; null: no secret.")
    tableau: dict[str, Any] | None = Field(description="The Tableau event, when recognised.")


class RequestList(BaseModel):
    requests: list[RequestOut]
    next_before: str | None = Field(
        description="Pass as `before` for the next, older page; null when none is left. A page "
        "holds `limit` requests or about 8 MiB of bodies, whichever comes first."
    )


class ReplayRequest(BaseModel):
    url: str = Field(description="Where to POST the captured request; the SSRF guard applies.")


class ReplayResult(BaseModel):
    status: int | None
    error: str | None
    detail: str | None
    duration_ms: float
    response_body: str


def bin_out(request: Request, bin_: Bin, caller: Principal) -> BinOut:
    """The bin as ``caller`` may see it: the secret only if they may manage the bin."""
    base = base_url(request)
    return BinOut(
        id=bin_.id,
        url=f"{base}/inbox/{bin_.id}",
        ui_url=f"{base}/ui/bins/{bin_.id}",
        name=bin_.name,
        created_at=bin_.created_at,
        max_requests=bin_.max_requests,
        max_age_s=bin_.max_age_s,
        response_status=bin_.response_status,
        response_headers=bin_.response_headers,
        response_body=bin_.response_body,
        response_delay_s=bin_.response_delay_s,
        fail_next=bin_.fail_remaining,
        fail_percent=bin_.fail_percent,
        fail_status=bin_.fail_status,
        never_answer=bin_.never_answer,
        signing_secret=bin_.signing_secret if bins.may_manage(caller, bin_) else None,
        request_count=bin_.request_count,
        last_received_at=bin_.last_received_at,
    )


def request_out(item: Captured) -> RequestOut:
    text = item.body_text
    event = item.tableau
    return RequestOut(
        id=item.id,
        method=item.method,
        path=item.path,
        query=item.query,
        headers=item.headers,
        body=text if text is not None else item.body_base64,
        body_base64=text is None,
        body_size=item.body_size,
        truncated=item.truncated,
        client_addr=item.client_addr,
        received_at=item.received_at,
        response_status=item.response_status,
        note=item.note,
        webhook_id=item.webhook_msg_id,
        duplicate=item.duplicate,
        occurrence=item.occurrence,
        occurrences=item.occurrences,
        signature=item.signature.value if item.signature else None,
        tableau=None
        if event is None
        else {
            "event_type": event.event_type,
            "resource": event.resource,
            "resource_name": event.resource_name,
            "resource_luid": event.resource_luid,
            "site_luid": event.site_luid,
            "created_at": event.created_at,
            "known_event": event.summary is not None,
            "rest_path": event.rest_path,
        },
    )


def _origins(request: Request) -> frozenset[str]:
    """Where a bin's chosen ``Location`` may point: this server, as the caller reaches it."""
    public_url: str | None = request.app.state.settings.public_url
    return hosts.server_origins(public_url, str(request.base_url))


def _hub(request: Request) -> InboxHub:
    hub: InboxHub = request.app.state.inbox_hub
    return hub


@router.post("/bins", status_code=201, operation_id="createBin")
async def create_bin(
    request: Request, store: StoreDep, caller: CallerDep, body: BinSettings | None = None
) -> BinOut:
    settings = request.app.state.settings
    changes = (body or BinSettings()).changes()
    created = await bins.create(store, settings, caller, changes, _origins(request))
    return bin_out(request, created, caller)


@router.get("/bins", operation_id="listBins")
async def list_bins(request: Request, store: StoreDep, caller: CallerDep) -> BinList:
    found = await bins.listing(store, caller)
    return BinList(bins=[bin_out(request, b, caller) for b in found])


@router.get("/bins/{bin_id}", operation_id="getBin")
async def get_bin(request: Request, bin_id: str, store: StoreDep, caller: CallerDep) -> BinOut:
    return bin_out(request, await bins.get(store, caller, bin_id), caller)


@router.patch("/bins/{bin_id}", operation_id="updateBin")
async def update_bin(
    request: Request, bin_id: str, body: BinSettings, store: StoreDep, caller: CallerDep
) -> BinOut:
    settings = request.app.state.settings
    changed = await bins.update(store, settings, caller, bin_id, body.changes(), _origins(request))
    return bin_out(request, changed, caller)


@router.delete("/bins/{bin_id}", status_code=204, operation_id="deleteBin")
async def delete_bin(request: Request, bin_id: str, store: StoreDep, caller: CallerDep) -> Response:
    await bins.delete(store, caller, _hub(request), bin_id)
    return Response(status_code=204)


@router.get("/bins/{bin_id}/requests", operation_id="listBinRequests")
async def list_requests(
    bin_id: str,
    store: StoreDep,
    caller: CallerDep,
    before: str | None = Query(None, description="Only requests older than this id."),
    limit: int = Query(history.PAGE_SIZE, ge=1, le=history.MAX_PAGE_SIZE),
) -> RequestList:
    bin_ = await bins.get(store, caller, bin_id)
    found = await history.page(store, bin_, before=before, limit=limit)
    return RequestList(
        requests=[request_out(i) for i in found.items], next_before=found.next_before
    )


@router.delete("/bins/{bin_id}/requests", status_code=204, operation_id="clearBin")
async def clear_bin(request: Request, bin_id: str, store: StoreDep, caller: CallerDep) -> Response:
    await bins.clear(store, caller, _hub(request), bin_id)
    return Response(status_code=204)


@router.get("/bins/{bin_id}/requests/{request_id}", operation_id="getBinRequest")
async def get_request(
    bin_id: str, request_id: str, store: StoreDep, caller: CallerDep
) -> RequestOut:
    bin_ = await bins.get(store, caller, bin_id)
    return request_out(await history.one(store, bin_, request_id))


@router.post("/bins/{bin_id}/requests/{request_id}/replay", operation_id="replayBinRequest")
async def replay_request(
    request: Request,
    bin_id: str,
    request_id: str,
    body: ReplayRequest,
    store: StoreDep,
    caller: CallerDep,
) -> ReplayResult:
    sender: Sender = request.app.state.sender
    outcome = await replay.replay(store, sender, caller, bin_id, request_id, body.url)
    return ReplayResult(
        status=outcome.status,
        error=outcome.error.value if outcome.error else None,
        detail=outcome.detail,
        duration_ms=outcome.duration_ms,
        response_body=outcome.response_body.decode("utf-8", errors="replace"),
    )
