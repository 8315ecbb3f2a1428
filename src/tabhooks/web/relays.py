"""``/ui/relays``: relay routes — list, create, edit with a template preview, delete — and
each route's deliveries.

Saving goes through ``services.relays.create`` and ``update``, as ``/tabhooks/v1/relays``
does: target URLs through the SSRF policy, templates compiled and checked in a render
worker. "Preview" renders each target's message for a sample event through
``services.relays.preview`` — the same render workers and limits — and shows it beside the
form, Slack and Teams messages as those apps would show them; nothing is saved or sent.

A route's targets are replaced only when the form changed them: replacing targets drops
their delivery history (:func:`tabhooks.store.relays.replace_route`), so re-saving a route to
rename it must not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from tabhooks import events
from tabhooks.api.deps import store_of
from tabhooks.api.wire import base_url
from tabhooks.delivery.guard import DestinationPolicy
from tabhooks.errors import BadRequest, Conflict
from tabhooks.relay import messages
from tabhooks.relay.templates import Renderer
from tabhooks.services import deliveries, relays
from tabhooks.services.relays import RouteSpec, TargetSpec
from tabhooks.web import previews, session
from tabhooks.web.session import Viewer, ViewerDep
from tabhooks.web.templating import pages_of, pretty

router = APIRouter(prefix="/ui/relays", include_in_schema=False)

#: Target slots a form may carry (the existing ones plus one blank for a new target).
MAX_TARGETS = 20
#: Deliveries shown on a route's page; the delivery log filtered by route has them all.
DELIVERIES_SHOWN = 20
_EVENT_FIELD = "ev:"
NOTICES = {
    "created": "Relay route created. Point Tableau (or a webhook) at its inbound URL.",
    "saved": "Relay route saved.",
    "deleted": "Relay route deleted.",
}


@dataclass(slots=True)
class TargetForm:
    """One target as the form shows it (``headers`` as JSON text)."""

    type: str = "slack"
    url: str = ""
    method: str = "POST"
    headers: str = ""
    template: str = ""


def _policy(request: Request) -> DestinationPolicy:
    policy: DestinationPolicy = request.app.state.destination_policy
    return policy


def _renderer(request: Request) -> Renderer:
    renderer: Renderer = request.app.state.renderer
    return renderer


def _inbound_url(request: Request, route_id: str) -> str:
    return f"{base_url(request)}/relay/{route_id}"


def _form_of_route(route: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": route["name"],
        "events": json.loads(route["events"]),
        "resource_glob": route["resource_glob"],
        "sign": route["signing_secret"] is not None,
        "targets": [
            TargetForm(
                t["type"],
                t["url"],
                t["method"],
                json.dumps(t["headers"]) if t["headers"] else "",
                t["template"] or "",
            )
            for t in route["targets"]
        ],
    }


def _form_of_post(form: dict[str, str]) -> dict[str, Any]:
    targets = []
    for i in range(MAX_TARGETS):
        prefix = f"t{i}."
        if prefix + "type" not in form:
            break
        if form.get(prefix + "remove") == "on" or not form.get(prefix + "url", "").strip():
            continue
        targets.append(
            TargetForm(
                form[prefix + "type"],
                form.get(prefix + "url", "").strip(),
                form.get(prefix + "method", "POST").strip().upper() or "POST",
                form.get(prefix + "headers", "").strip(),
                form.get(prefix + "template", ""),
            )
        )
    return {
        "name": form.get("name", "").strip(),
        "events": [key[len(_EVENT_FIELD) :] for key in form if key.startswith(_EVENT_FIELD)],
        "resource_glob": form.get("resource_glob", "").strip(),
        "sign": form.get("sign") == "on",
        "targets": targets,
    }


def _target_specs(targets: list[TargetForm]) -> list[TargetSpec]:
    specs = []
    for number, target in enumerate(targets, start=1):
        try:
            headers = json.loads(target.headers) if target.headers else {}
        except ValueError as exc:
            raise BadRequest(f"Target {number}: headers must be a JSON object: {exc}.") from exc
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise BadRequest(f"Target {number}: headers must be a JSON object of strings.")
        specs.append(
            TargetSpec(
                type=target.type,
                url=target.url,
                method=target.method,
                headers=headers,
                template=target.template if target.template.strip() else None,
            )
        )
    return specs


def _same_targets(specs: list[TargetSpec], route: dict[str, Any]) -> bool:
    current = [
        (t["type"], t["url"], t["method"], dict(t["headers"]), t["template"])
        for t in route["targets"]
    ]
    wanted = [(s.type, s.url, s.method, dict(s.headers), s.template) for s in specs]
    return current == wanted


async def _previews(
    request: Request, viewer: Viewer, values: dict[str, Any], event_name: str
) -> list[dict[str, Any]]:
    """Each target's message for a sample ``event_name``, rendered in the render workers."""
    shown = []
    for target in values["targets"]:
        found = await relays.preview(
            store_of(request),
            viewer.principal,
            target.type,
            target.template or None,
            event_name,
            base_url=base_url(request),
            renderer=_renderer(request),
        )
        shown.append(
            {
                "type": target.type,
                "error": found.error,
                "body": pretty(found.body) if found.body is not None else None,
                "message": previews.message(target.type, found.body),
            }
        )
    return shown


def _form_page(
    request: Request,
    viewer: Viewer,
    values: dict[str, Any],
    *,
    route: dict[str, Any] | None = None,
    error: str | None = None,
    status: int = 200,
    shown: list[dict[str, Any]] | None = None,
    sample_event: str = "DatasourceRefreshFailed",
) -> Response:
    slots = [*values["targets"], TargetForm()][:MAX_TARGETS]
    return pages_of(request).page(
        request,
        "relay_form.html",
        status=status,
        viewer=viewer,
        route=route,
        values=values,
        slots=slots,
        types=messages.TARGET_TYPES,
        methods=relays.HTTP_METHODS,
        catalog=events.CATALOG,
        error=error,
        previews=shown,
        sample_event=sample_event,
    )


@router.get("")
async def routes_page(request: Request, viewer: ViewerDep) -> Response:
    routes = await relays.listing(store_of(request), viewer.principal)
    return pages_of(request).page(
        request,
        "relays.html",
        viewer=viewer,
        routes=[
            {**r, "event_names": json.loads(r["events"]), "inbound": _inbound_url(request, r["id"])}
            for r in routes
        ],
        notice=NOTICES.get(request.query_params.get("done") or ""),
    )


@router.get("/new")
async def new_form(request: Request, viewer: ViewerDep) -> Response:
    viewer.principal.require_site_admin()
    values = {"name": "", "events": [], "resource_glob": "", "sign": False, "targets": []}
    return _form_page(request, viewer, values)


async def _route_page(
    request: Request, viewer: Viewer, route_id: str, *, signing_secret: str | None = None
) -> Response:
    store = store_of(request)
    route = await relays.get(store, viewer.principal, route_id)
    rows = await deliveries.listing(
        store,
        viewer.principal,
        webhook_id=None,
        status=None,
        since=None,
        until=None,
        before=None,
        limit=DELIVERIES_SHOWN,
        relay_route_id=route_id,
    )
    types = {t["id"]: t["type"] for t in route["targets"]}
    return pages_of(request).page(
        request,
        "relay.html",
        viewer=viewer,
        route=route,
        event_names=json.loads(route["events"]),
        inbound=_inbound_url(request, route_id),
        rows=[{**r, "target_type": types.get(r["relay_target_id"], "?")} for r in rows],
        signing_secret=signing_secret,
        notice=NOTICES.get(request.query_params.get("done") or ""),
    )


@router.post("")
async def create(request: Request, viewer: ViewerDep) -> Response:
    form = await session.checked_form(request, viewer.csrf)
    viewer.principal.require_site_admin()
    values = _form_of_post(form)
    sample = form.get("sample_event") or "DatasourceRefreshFailed"
    try:
        specs = _target_specs(values["targets"])
        if form.get("action") == "preview":
            shown = await _previews(request, viewer, values, sample)
            return _form_page(request, viewer, values, shown=shown, sample_event=sample)
        created = await relays.create(
            store_of(request),
            viewer.principal,
            RouteSpec(
                name=values["name"],
                events=values["events"],
                resource_glob=values["resource_glob"],
                targets=specs,
                sign=values["sign"] or None,
            ),
            _policy(request),
            renderer=_renderer(request),
        )
    except (BadRequest, Conflict) as exc:
        return _form_page(
            request, viewer, values, error=exc.detail, status=exc.status, sample_event=sample
        )
    if created["signing_secret"]:
        # Shown once, in this answer, as the REST API does; never put in a URL.
        return await _route_page(
            request, viewer, created["id"], signing_secret=created["signing_secret"]
        )
    return RedirectResponse(f"/ui/relays/{quote(created['id'])}?done=created", status_code=303)


@router.get("/{route_id}")
async def route_page(request: Request, route_id: str, viewer: ViewerDep) -> Response:
    return await _route_page(request, viewer, route_id)


@router.get("/{route_id}/edit")
async def edit_form(request: Request, route_id: str, viewer: ViewerDep) -> Response:
    route = await relays.get(store_of(request), viewer.principal, route_id)
    return _form_page(request, viewer, _form_of_route(route), route=route)


@router.post("/{route_id}/edit")
async def edit(request: Request, route_id: str, viewer: ViewerDep) -> Response:
    form = await session.checked_form(request, viewer.csrf)
    store = store_of(request)
    route = await relays.get(store, viewer.principal, route_id)
    values = _form_of_post(form)
    sample = form.get("sample_event") or "DatasourceRefreshFailed"
    try:
        specs = _target_specs(values["targets"])
        if form.get("action") == "preview":
            shown = await _previews(request, viewer, values, sample)
            return _form_page(
                request, viewer, values, route=route, shown=shown, sample_event=sample
            )
        was_signed = route["signing_secret"] is not None
        updated = await relays.update(
            store,
            viewer.principal,
            route_id,
            RouteSpec(
                name=values["name"],
                events=values["events"],
                resource_glob=values["resource_glob"],
                targets=None if _same_targets(specs, route) else specs,
                sign=None if values["sign"] == was_signed else values["sign"],
            ),
            _policy(request),
            renderer=_renderer(request),
        )
    except (BadRequest, Conflict) as exc:
        return _form_page(
            request,
            viewer,
            values,
            route=route,
            error=exc.detail,
            status=exc.status,
            sample_event=sample,
        )
    if updated["signing_secret"] and not was_signed:
        return await _route_page(
            request, viewer, route_id, signing_secret=updated["signing_secret"]
        )
    return RedirectResponse(f"/ui/relays/{quote(route_id)}?done=saved", status_code=303)


@router.post("/{route_id}/delete")
async def delete(request: Request, route_id: str, viewer: ViewerDep) -> Response:
    await session.checked_form(request, viewer.csrf)
    await relays.delete(store_of(request), viewer.principal, route_id)
    return RedirectResponse("/ui/relays?done=deleted", status_code=303)
