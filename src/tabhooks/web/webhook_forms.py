"""``/ui/webhooks``: create, edit and delete a webhook, rotate its signing secret, fire its event.

Each form goes through the service the REST API uses — ``services.webhooks.create``,
``update`` and ``delete`` (the destination checked by the same SSRF policy),
``services.deliveries.rotate_secret``, ``services.fire.fire`` — so the dashboard allows
exactly what the API allows, with the same messages. A refused form (a name taken, a URL the
policy blocks) comes back filled in with the reason; everything else is POST-redirect-GET.
Every form carries the session's CSRF token (:mod:`tabhooks.web.session`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from tabhooks import events
from tabhooks.api.deps import store_of
from tabhooks.delivery.guard import DestinationPolicy
from tabhooks.errors import BadRequest, Conflict
from tabhooks.models import WebhookOut
from tabhooks.services import deliveries, fire, webhooks
from tabhooks.web import session
from tabhooks.web.dashboard import webhook_page_response
from tabhooks.web.session import Viewer, ViewerDep
from tabhooks.web.templating import pages_of

router = APIRouter(prefix="/ui/webhooks", include_in_schema=False)

#: Resource name of the sample event "Fire" sends when the form leaves it empty.
SAMPLE_RESOURCE = "Sample: Superstore"


def _policy(request: Request) -> DestinationPolicy:
    policy: DestinationPolicy = request.app.state.destination_policy
    return policy


def _to_webhook(webhook_id: str, done: str) -> Response:
    return RedirectResponse(f"/ui/webhooks/{quote(webhook_id)}?done={done}", status_code=303)


def _form_page(
    request: Request,
    viewer: Viewer,
    *,
    values: dict[str, Any],
    webhook: WebhookOut | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    return pages_of(request).page(
        request,
        "webhook_form.html",
        status=status,
        viewer=viewer,
        webhook=webhook,
        values=values,
        catalog=events.CATALOG,
        error=error,
    )


def _spec(form: dict[str, str]) -> webhooks.WebhookSpec:
    return webhooks.WebhookSpec(
        name=form.get("name", "").strip(),
        event=form.get("event", "").strip() or None,
        url=form.get("url", "").strip(),
        method="POST",
    )


@router.get("/new")
async def new_form(request: Request, viewer: ViewerDep) -> Response:
    viewer.principal.require_site_admin()
    values = {"name": "", "event": "", "url": request.query_params.get("url", ""), "enabled": True}
    return _form_page(request, viewer, values=values)


@router.post("")
async def create(request: Request, viewer: ViewerDep) -> Response:
    form = await session.checked_form(request, viewer.csrf)
    spec = _spec(form)
    enabled = form.get("enabled") == "on"
    try:
        created = await webhooks.create(
            store_of(request),
            viewer.principal,
            _policy(request),
            webhooks.WebhookSpec(
                name=spec.name, event=spec.event, url=spec.url, method="POST", is_enabled=enabled
            ),
        )
    except (BadRequest, Conflict) as exc:
        values = {**form, "enabled": enabled}
        return _form_page(request, viewer, values=values, error=exc.detail, status=exc.status)
    return _to_webhook(created.id, "created")


@router.get("/{webhook_id}/edit")
async def edit_form(request: Request, webhook_id: str, viewer: ViewerDep) -> Response:
    webhook = await webhooks.get(store_of(request), viewer.principal, webhook_id)
    _, name, event, url, _, is_enabled, *_ = webhook
    values = {"name": name, "event": event, "url": url, "enabled": is_enabled}
    return _form_page(request, viewer, values=values, webhook=webhook)


@router.post("/{webhook_id}/edit")
async def edit(request: Request, webhook_id: str, viewer: ViewerDep) -> Response:
    form = await session.checked_form(request, viewer.csrf)
    store = store_of(request)
    current = await webhooks.get(store, viewer.principal, webhook_id)
    spec = _spec(form)
    enabled = form.get("enabled") == "on"
    # Only a changed switch is sent: re-saving a disabled webhook keeps its reason (an
    # automatic disable says why it happened; "disabled by user" would hide that).
    try:
        await webhooks.update(
            store,
            viewer.principal,
            _policy(request),
            webhook_id,
            webhooks.WebhookSpec(
                name=spec.name,
                event=spec.event,
                url=spec.url,
                method="POST",
                is_enabled=None if enabled == current[5] else enabled,
            ),
        )
    except (BadRequest, Conflict) as exc:
        values = {**form, "enabled": enabled}
        return _form_page(
            request, viewer, values=values, webhook=current, error=exc.detail, status=exc.status
        )
    return _to_webhook(webhook_id, "saved")


@router.post("/{webhook_id}/delete")
async def delete(request: Request, webhook_id: str, viewer: ViewerDep) -> Response:
    await session.checked_form(request, viewer.csrf)
    await webhooks.delete(store_of(request), viewer.principal, webhook_id)
    return RedirectResponse("/ui/webhooks?done=deleted", status_code=303)


@router.post("/{webhook_id}/secret")
async def rotate_secret(request: Request, webhook_id: str, viewer: ViewerDep) -> Response:
    """Rotate, then show the new secret once on the webhook's page (never in a URL)."""
    await session.checked_form(request, viewer.csrf)
    view = await deliveries.rotate_secret(store_of(request), viewer.principal, webhook_id)
    return await webhook_page_response(request, viewer, webhook_id, new_secret=view.current)


@router.post("/{webhook_id}/fire")
async def fire_event(request: Request, webhook_id: str, viewer: ViewerDep) -> Response:
    """Fire the webhook's event with a sample resource, as ``tabhooks fire`` does."""
    form = await session.checked_form(request, viewer.csrf)
    store = store_of(request)
    webhook = await webhooks.get(store, viewer.principal, webhook_id)
    await fire.fire(
        store,
        viewer.principal,
        event_name=webhook[2],
        resource_luid=None,
        resource_name=form.get("resource_name", "").strip() or SAMPLE_RESOURCE,
        resource_type=None,
    )
    return _to_webhook(webhook_id, "fired")
