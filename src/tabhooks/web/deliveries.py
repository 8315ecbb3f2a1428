"""``/ui/deliveries``: every delivery of the site, webhook and relay alike, and each one's page.

The list filters by webhook, relay route, event, status and time, and pages back through
older rows; every row links to its delivery. A delivery's page shows the request as sent —
headers (:func:`tabhooks.web.previews.request_headers`) and the body, indented, with a Copy
button — each attempt with the receiver's status, headers and body, and for Slack and Teams
targets the message as those apps would show it.

A relay delivery has no webhook page to live on, so this is where it is seen: the list labels
it with its relay route and target type. Everything is read through the services the REST
API uses (``services.deliveries``, ``services.webhooks``, ``services.relays``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tabhooks import events
from tabhooks.api.deps import store_of
from tabhooks.errors import BadRequest, ResourceNotFound
from tabhooks.services import deliveries, relays, webhooks
from tabhooks.services.principal import Principal
from tabhooks.store import Store
from tabhooks.store.deliveries import Status
from tabhooks.store.tables import utcnow_precise
from tabhooks.web import previews
from tabhooks.web.dashboard import NOTICES
from tabhooks.web.session import Viewer, ViewerDep
from tabhooks.web.templating import pages_of, pretty

router = APIRouter(prefix="/ui/deliveries", include_in_schema=False)

#: Rows on the list page, newest first, unless ``limit`` asks for fewer; "Older" pages back.
LIST_LIMIT = 100
#: Characters of the body sent shown on a delivery's page (after indenting).
BODY_SHOWN_CHARS = 20_000
#: The time filter's choices.
PERIODS = {
    "1h": ("Last hour", timedelta(hours=1)),
    "24h": ("Last 24 hours", timedelta(hours=24)),
    "7d": ("Last 7 days", timedelta(days=7)),
}
_ID_MAX_CHARS = 64


async def _routes(store: Store, principal: Principal) -> dict[str, dict[str, Any]]:
    """The site's relay routes by id, to name and type what a relay delivery went to."""
    return {route["id"]: route for route in await relays.listing(store, principal)}


def _target_of(row: dict[str, Any], routes: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    route = routes.get(row["relay_route_id"] or "")
    if route is None:
        return None
    return next((t for t in route["targets"] if t["id"] == row["relay_target_id"]), None)


def _labelled(row: dict[str, Any], routes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The row plus ``source`` (``webhook`` or ``relay``) and, for relay, ``target_type``."""
    if row["webhook_id"] is not None:
        return {**row, "source": "webhook", "target_type": None}
    target = _target_of(row, routes)
    return {**row, "source": "relay", "target_type": target["type"] if target else "?"}


def _status(value: str | None) -> str | None:
    if not value:
        return None
    if value not in {s.value for s in Status}:
        raise BadRequest(f"Status must be one of {', '.join(s.value for s in Status)}.")
    return value


def _event(value: str | None) -> str | None:
    if not value:
        return None
    found = events.find(value)
    if found is None:
        raise BadRequest(f"'{value[:80]}' is not a webhook event.")
    return found.name


def _period(value: str | None) -> timedelta | None:
    if not value:
        return None
    if value not in PERIODS:
        raise BadRequest(f"The time filter must be one of {', '.join(PERIODS)}.")
    return PERIODS[value][1]


def _id(value: str | None, what: str) -> str | None:
    if value and len(value) > _ID_MAX_CHARS:
        raise BadRequest(f"That is not a {what} id.")
    return value or None


@router.get("")
async def deliveries_page(
    request: Request,
    viewer: ViewerDep,
    webhook: str | None = None,
    route: str | None = None,
    event: str | None = None,
    status: str | None = None,
    period: str | None = None,
    before: str | None = None,
    limit: int = LIST_LIMIT,
) -> Response:
    if not 1 <= limit <= LIST_LIMIT:
        raise BadRequest(f"limit must be 1 to {LIST_LIMIT}.")
    store = store_of(request)
    principal = viewer.principal
    routes = await _routes(store, principal)
    site_webhooks = await webhooks.listing(store, principal)
    webhook, route, before = (
        _id(webhook, "webhook"),
        _id(route, "relay route"),
        _id(before, "delivery"),
    )
    if webhook and webhook not in {w[0] for w in site_webhooks}:
        raise ResourceNotFound(f"No webhook with id '{webhook}' exists on this site.")
    if route and route not in routes:
        raise ResourceNotFound(f"No relay route with id '{route}' exists on this site.")
    window = _period(period)
    rows = await deliveries.listing(
        store,
        principal,
        webhook_id=webhook,
        status=_status(status),
        since=utcnow_precise() - window if window else None,
        until=None,
        before=before,
        limit=limit,
        relay_route_id=route,
        event=_event(event),
    )
    chosen = {
        "webhook": webhook or "",
        "route": route or "",
        "event": _event(event) or "",
        "status": status or "",
        "period": period or "",
    }
    older = None
    if len(rows) == limit:
        kept = {k: v for k, v in chosen.items() if v}
        if limit != LIST_LIMIT:
            kept["limit"] = str(limit)
        older = "?" + urlencode({**kept, "before": rows[-1]["id"]})
    return pages_of(request).page(
        request,
        "deliveries.html",
        viewer=viewer,
        rows=[_labelled(r, routes) for r in rows],
        routes=list(routes.values()),
        webhooks=site_webhooks,
        catalog=events.CATALOG,
        statuses=[s.value for s in Status],
        periods=[(key, label) for key, (label, _) in PERIODS.items()],
        chosen=chosen,
        filtered=any(chosen.values()),
        paged=before is not None,
        older=older,
    )


async def _story(request: Request, viewer: Viewer, delivery_id: str) -> list[dict[str, Any]]:
    store = store_of(request)
    delivery, attempts = await deliveries.detail(store, viewer.principal, delivery_id)
    routes = await _routes(store, viewer.principal) if delivery["webhook_id"] is None else {}
    return [{**_labelled(delivery, routes), "attempt_log": attempts}]


async def _request_headers(
    store: Store, viewer: Viewer, delivery: dict[str, Any]
) -> tuple[str, list[previews.Header]]:
    """The method and headers an attempt of ``delivery`` sends."""
    attempts = delivery["attempt_log"]
    started = attempts[-1]["started_at"] if attempts else None
    if delivery["webhook_id"] is not None:
        secrets = await deliveries.secrets(store, viewer.principal, delivery["webhook_id"])
        signed = secrets.current is not None or bool(secrets.previous)
        headers = previews.request_headers(delivery["id"], attempt_started=started, signed=signed)
        return "POST", headers
    routes = await _routes(store, viewer.principal)
    target = _target_of(delivery, routes) or {"method": "POST", "headers": {}, "type": "?"}
    route = routes.get(delivery["relay_route_id"] or "", {})
    # Only http targets are signed (tabhooks.store.deliveries._claimed).
    signed = bool(route.get("signing_secret")) and target["type"] == "http"
    headers = previews.request_headers(
        delivery["id"], attempt_started=started, signed=signed, extra=target["headers"]
    )
    return str(target["method"]), headers


@router.get("/{delivery_id}")
async def delivery_page(request: Request, delivery_id: str, viewer: ViewerDep) -> Response:
    story = await _story(request, viewer, delivery_id)
    delivery = story[0]
    sent = delivery["body"] if delivery["body"] is not None else delivery["payload"]
    method, headers = await _request_headers(store_of(request), viewer, delivery)
    shown = pretty(sent)
    return pages_of(request).page(
        request,
        "delivery.html",
        viewer=viewer,
        delivery=delivery,
        story=story,
        method=method,
        request_headers=headers,
        sent=shown[:BODY_SHOWN_CHARS],
        cut=len(shown) > BODY_SHOWN_CHARS,
        preview=previews.message(delivery["target_type"], sent),
        notice=NOTICES.get(request.query_params.get("done") or ""),
    )


@router.get("/{delivery_id}/attempts")
async def attempts_partial(request: Request, delivery_id: str, viewer: ViewerDep) -> Response:
    """The delivery's timeline alone, fetched every few seconds by the page's script."""
    html = pages_of(request).fragment(
        "_deliveries.html", viewer=viewer, story=await _story(request, viewer, delivery_id)
    )
    return Response(html, media_type="text/html", headers={"Cache-Control": "no-store"})
