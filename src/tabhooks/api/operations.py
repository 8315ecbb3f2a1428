"""``/tabhooks/v1/sites/{site_id}/...``: what Tableau lacks, in plain JSON.

Delivery log with every attempt, redelivery and recovery, signing secrets, on-demand events.
Authentication is the same ``X-Tableau-Auth`` token as Tableau's API.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response

from tabhooks.api.deps import SiteCallerDep, StoreDep
from tabhooks.delivery.metrics import DeliveryMetrics
from tabhooks.services import deliveries, fire
from tabhooks.store import deliveries as queue

router = APIRouter(prefix="/tabhooks/v1/sites/{site_id}", tags=["tabhooks"])
metrics_router = APIRouter(tags=["tabhooks"])

DeliveryStatus = Literal["pending", "delivering", "succeeded", "failed"]


class Attempt(BaseModel):
    id: str
    number: int
    started_at: datetime
    duration_ms: float
    status_code: int | None
    error: str | None
    detail: str | None
    response_headers: dict[str, str]
    response_body: str = Field(description="UTF-8 text, or base64 when not valid UTF-8.")
    response_body_base64: bool


class Delivery(BaseModel):
    id: str = Field(description="Also the `webhook-id` header every attempt carries.")
    webhook_id: str | None = Field(description="None for a relay delivery.")
    relay_route_id: str | None = Field(None, description="The relay route, for relay deliveries.")
    webhook_name: str = Field(description="The webhook's name, or the relay route's.")
    url: str
    event: str
    resource: str
    resource_name: str
    resource_luid: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    created_at: datetime
    completed_at: datetime | None


class DeliveryDetail(Delivery):
    payload: dict[str, Any]
    body: str | None = Field(None, description="The rendered body a relay delivery sends.")
    attempt_log: list[Attempt]


class DeliveryList(BaseModel):
    deliveries: list[Delivery]
    next_before: str | None = Field(description="Pass as `before` for the next (older) page.")


def _delivery(row: dict[str, Any]) -> Delivery:
    return Delivery(**{k: row[k] for k in Delivery.model_fields})


def _attempt(row: dict[str, Any]) -> Attempt:
    body: bytes = row["response_body"] or b""
    try:
        text, is_b64 = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, is_b64 = base64.b64encode(body).decode(), True
    return Attempt(
        id=row["id"],
        number=row["number"],
        started_at=row["started_at"],
        duration_ms=row["duration_ms"],
        status_code=row["status_code"],
        error=row["error"],
        detail=row["detail"],
        response_headers=json.loads(row["response_headers"] or "{}"),
        response_body=text,
        response_body_base64=is_b64,
    )


@router.get("/deliveries", operation_id="listDeliveries")
async def list_deliveries(
    store: StoreDep,
    caller: SiteCallerDep,
    webhook_id: str | None = None,
    relay_route_id: str | None = Query(None, description="Only this relay route's deliveries."),
    status: DeliveryStatus | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before: str | None = Query(None, description="Only deliveries older than this id."),
    limit: int = Query(50, ge=1, le=500),
) -> DeliveryList:
    rows = await deliveries.listing(
        store,
        caller,
        webhook_id=webhook_id,
        status=status,
        since=since,
        until=until,
        before=before,
        limit=limit,
        relay_route_id=relay_route_id,
    )
    return DeliveryList(
        deliveries=[_delivery(r) for r in rows],
        next_before=rows[-1]["id"] if len(rows) == limit else None,
    )


@router.get("/deliveries/{delivery_id}", operation_id="getDelivery")
async def get_delivery(delivery_id: str, store: StoreDep, caller: SiteCallerDep) -> DeliveryDetail:
    row, attempt_rows = await deliveries.detail(store, caller, delivery_id)
    return DeliveryDetail(
        **_delivery(row).model_dump(),
        payload=json.loads(row["payload"]),
        body=row["body"],
        attempt_log=[_attempt(a) for a in attempt_rows],
    )


class Queued(BaseModel):
    queued: int


@router.post("/deliveries/{delivery_id}/redeliver", status_code=202, operation_id="redeliver")
async def redeliver(delivery_id: str, store: StoreDep, caller: SiteCallerDep) -> Queued:
    await deliveries.redeliver(store, caller, delivery_id)
    return Queued(queued=1)


class RecoverRequest(BaseModel):
    since: datetime = Field(description="Queue again every delivery that failed since then.")


@router.post("/deliveries/recover", status_code=202, operation_id="recoverDeliveries")
async def recover(body: RecoverRequest, store: StoreDep, caller: SiteCallerDep) -> Queued:
    return Queued(queued=await deliveries.recover(store, caller, body.since))


class Secrets(BaseModel):
    current: str | None = Field(description="Signs every delivery (Standard Webhooks `v1,`).")
    previous: list[dict[str, Any]] = Field(description="Rotated-out secrets still signing.")


class RotateRequest(BaseModel):
    secret: str | None = Field(
        None, description="A `whsec_...` secret to use; generated when omitted."
    )


@router.get("/webhooks/{webhook_id}/secret", operation_id="getWebhookSecret")
async def get_secret(webhook_id: str, store: StoreDep, caller: SiteCallerDep) -> Secrets:
    view = await deliveries.secrets(store, caller, webhook_id)
    return Secrets(current=view.current, previous=view.previous)


@router.post("/webhooks/{webhook_id}/secret", status_code=201, operation_id="rotateWebhookSecret")
async def rotate_secret(
    webhook_id: str, store: StoreDep, caller: SiteCallerDep, body: RotateRequest | None = None
) -> Secrets:
    view = await deliveries.rotate_secret(store, caller, webhook_id, body.secret if body else None)
    return Secrets(current=view.current, previous=view.previous)


@router.delete("/webhooks/{webhook_id}/secret", status_code=204, operation_id="removeWebhookSecret")
async def remove_secret(webhook_id: str, store: StoreDep, caller: SiteCallerDep) -> Response:
    await deliveries.remove_secrets(store, caller, webhook_id)
    return Response(status_code=204)


class FireRequest(BaseModel):
    event: str = Field(description="Any catalog event, in either spelling.")
    resource_luid: str | None = None
    resource_name: str | None = None
    resource_type: str | None = Field(None, description="For label events: DATASOURCE/WORKBOOK.")


class FireResult(BaseModel):
    event: str
    resource: str
    resource_name: str
    resource_luid: str
    deliveries: int


@router.post("/events", status_code=201, operation_id="fireEvent")
async def fire_event(body: FireRequest, store: StoreDep, caller: SiteCallerDep) -> FireResult:
    fired = await fire.fire(
        store,
        caller,
        event_name=body.event,
        resource_luid=body.resource_luid,
        resource_name=body.resource_name,
        resource_type=body.resource_type,
    )
    return FireResult(
        event=fired.event,
        resource=fired.resource,
        resource_name=fired.resource_name,
        resource_luid=fired.resource_luid,
        deliveries=fired.deliveries,
    )


@metrics_router.get("/metrics", operation_id="metrics", include_in_schema=False)
async def metrics(request: Request, store: StoreDep) -> Response:
    registry: DeliveryMetrics = request.app.state.metrics
    async with store.read() as conn:
        stats = await queue.queue_stats(conn)
    return Response(registry.render(stats), media_type="text/plain; version=0.0.4; charset=utf-8")
