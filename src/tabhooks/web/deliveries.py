"""``/ui/deliveries``: every delivery of the site, webhook and relay alike, and each one's page.

A relay delivery has no webhook page to live on, so this is where it is seen: the list labels
it with its relay route and target type and filters by route, and its page shows the body
sent and every attempt — the same timeline (``_deliveries.html``) a webhook's page shows, so
the two kinds of delivery cannot be told apart by how well they are explained. Everything is
read through the services the REST API uses (``services.deliveries``, ``services.relays``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tabhooks.api.deps import store_of
from tabhooks.errors import BadRequest, ResourceNotFound
from tabhooks.services import deliveries, relays
from tabhooks.services.principal import Principal
from tabhooks.store import Store
from tabhooks.store.deliveries import Status
from tabhooks.web.dashboard import NOTICES
from tabhooks.web.session import Viewer, ViewerDep
from tabhooks.web.templating import pages_of

router = APIRouter(prefix="/ui/deliveries", include_in_schema=False)

#: Rows on the list page: the latest, newest first (the REST API pages further back).
LIST_LIMIT = 100
#: Characters of the body sent shown on a delivery's page.
BODY_SHOWN_CHARS = 4000


async def _routes(store: Store, principal: Principal) -> dict[str, dict[str, Any]]:
    """The site's relay routes by id, to name and type what a relay delivery went to."""
    return {route["id"]: route for route in await relays.listing(store, principal)}


def _labelled(row: dict[str, Any], routes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The row plus ``source`` (``webhook`` or ``relay``) and, for relay, ``target_type``."""
    if row["webhook_id"] is not None:
        return {**row, "source": "webhook", "target_type": None}
    route = routes.get(row["relay_route_id"] or "", {"targets": []})
    types = {t["id"]: t["type"] for t in route["targets"]}
    return {**row, "source": "relay", "target_type": types.get(row["relay_target_id"], "?")}


def _status(value: str | None) -> str | None:
    if not value:
        return None
    if value not in {s.value for s in Status}:
        raise BadRequest(f"Status must be one of {', '.join(s.value for s in Status)}.")
    return value


@router.get("")
async def deliveries_page(
    request: Request, viewer: ViewerDep, route: str | None = None, status: str | None = None
) -> Response:
    store = store_of(request)
    routes = await _routes(store, viewer.principal)
    if route and route not in routes:
        raise ResourceNotFound(f"No relay route with id '{route}' exists on this site.")
    rows = await deliveries.listing(
        store,
        viewer.principal,
        webhook_id=None,
        status=_status(status),
        since=None,
        until=None,
        before=None,
        limit=LIST_LIMIT,
        relay_route_id=route or None,
    )
    return pages_of(request).page(
        request,
        "deliveries.html",
        viewer=viewer,
        rows=[_labelled(r, routes) for r in rows],
        routes=list(routes.values()),
        statuses=[s.value for s in Status],
        chosen_route=route or "",
        chosen_status=status or "",
    )


async def _story(request: Request, viewer: Viewer, delivery_id: str) -> list[dict[str, Any]]:
    store = store_of(request)
    delivery, attempts = await deliveries.detail(store, viewer.principal, delivery_id)
    routes = await _routes(store, viewer.principal) if delivery["webhook_id"] is None else {}
    return [{**_labelled(delivery, routes), "attempt_log": attempts}]


@router.get("/{delivery_id}")
async def delivery_page(request: Request, delivery_id: str, viewer: ViewerDep) -> Response:
    story = await _story(request, viewer, delivery_id)
    delivery = story[0]
    sent = delivery["body"] if delivery["body"] is not None else delivery["payload"]
    return pages_of(request).page(
        request,
        "delivery.html",
        viewer=viewer,
        delivery=delivery,
        story=story,
        sent=sent[:BODY_SHOWN_CHARS],
        notice=NOTICES.get(request.query_params.get("done") or ""),
    )


@router.get("/{delivery_id}/attempts")
async def attempts_partial(request: Request, delivery_id: str, viewer: ViewerDep) -> Response:
    """The delivery's timeline alone, fetched every few seconds by the page's script."""
    html = pages_of(request).fragment(
        "_deliveries.html", viewer=viewer, story=await _story(request, viewer, delivery_id)
    )
    return Response(html, media_type="text/html", headers={"Cache-Control": "no-store"})
