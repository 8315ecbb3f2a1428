"""``/ui``: sign-in, the site's webhooks with their health and delivery charts, and each
webhook's story. Creating, editing, deleting and rotating live in :mod:`.webhook_forms`.

Every action calls the same service the REST API calls (``services.webhooks.update`` to
enable or disable, ``services.deliveries.redeliver``, ``services.webhook_test.run`` through
the process's one sender), so the dashboard cannot drift from the API's rules. Forms use
POST-redirect-GET, except "send test", which shows the destination's answer at once.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from tabhooks.api.deps import store_of
from tabhooks.api.throttle import client_address
from tabhooks.delivery.guard import DestinationPolicy
from tabhooks.delivery.sender import Sender
from tabhooks.errors import Conflict, SigninFailed, TooManyRequests
from tabhooks.models import WebhookOut
from tabhooks.services import auth, deliveries, overview, webhook_test, webhooks
from tabhooks.services.principal import Principal
from tabhooks.store import Store
from tabhooks.store import stats as stats_store
from tabhooks.store.health import WebhookHealth
from tabhooks.store.tables import utcnow_precise
from tabhooks.web import charts, session
from tabhooks.web.session import MaybeViewerDep, ViewerDep
from tabhooks.web.templating import pages_of

router = APIRouter(prefix="/ui", include_in_schema=False)

#: How the dispatcher's reasons for disabling a webhook begin (tabhooks.delivery.dispatcher).
AUTO_DISABLED = "Webhook disabled automatically"
#: Deliveries shown per webhook, each with its whole attempt timeline.
DELIVERIES_SHOWN = 12
#: Notices a redirect may ask for (codes, never text: nothing a link says is shown as is).
NOTICES = {
    "created": "Webhook created. Fire its event below to see a delivery.",
    "saved": "Webhook saved.",
    "deleted": "Webhook deleted.",
    "fired": "Event fired; its deliveries appear below.",
    "enabled": "Webhook enabled.",
    "disabled": "Webhook disabled.",
    "redelivered": "Delivery queued again; watch its attempts below.",
    "busy": "That delivery is still being attempted; wait for it to finish.",
}


def safe_next(target: str | None) -> str:
    """Only our own pages are redirect targets (no open redirect through ``next``)."""
    if target and target.startswith("/ui/") and not target.startswith("//"):
        return target
    return "/ui/"


@router.get("")
@router.get("/")
async def home(viewer: MaybeViewerDep) -> Response:
    """The first page for who is signed in: webhooks for administrators (what only they
    may see), the site's content for everyone else; the sign-in page for a stranger."""
    if viewer is None:
        return RedirectResponse("/ui/login", status_code=303)
    first = "/ui/webhooks" if viewer.principal.user.is_site_admin else "/ui/content"
    return RedirectResponse(first, status_code=303)


@router.get("/login")
async def login_page(request: Request, viewer: MaybeViewerDep, next: str | None = None) -> Response:
    if viewer is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_form(request, next_path=safe_next(next))


def _login_form(
    request: Request, *, next_path: str, error: str | None = None, name: str = "", site: str = ""
) -> Response:
    token = session.login_token(request)
    response = pages_of(request).page(
        request,
        "login.html",
        status=401 if error else 200,
        csrf=token,
        next_path=next_path,
        error=error,
        name=name,
        site=site,
    )
    session.remember_login_token(request, response, token)
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    form = await session.checked_form(request, request.cookies.get(session.LOGIN_CSRF_COOKIE))
    settings = request.app.state.settings
    name, site = form.get("name", ""), form.get("site", "")
    throttle = request.app.state.signin_throttle  # the same one as the REST sign-in
    try:
        with throttle.attempt("password", name, client_address(request)):
            signed_in = await auth.sign_in_password(
                store_of(request),
                settings,
                name=name,
                password=form.get("password", ""),
                content_url=site,
            )
    except TooManyRequests as exc:
        next_path = safe_next(form.get("next"))
        page = _login_form(request, next_path=next_path, error=exc.detail, name=name, site=site)
        page.status_code = 429
        page.headers["Retry-After"] = str(exc.retry_after_s)
        return page
    except SigninFailed:
        return _login_form(
            request,
            next_path=safe_next(form.get("next")),
            error="Wrong user name, password or site.",
            name=name,
            site=site,
        )
    response = RedirectResponse(safe_next(form.get("next")), status_code=303)
    session.open_session(request, response, signed_in.token, settings.session_ttl_minutes * 60)
    return response


@router.post("/logout")
async def logout(request: Request, viewer: ViewerDep) -> Response:
    await session.checked_form(request, viewer.csrf)
    token = request.cookies.get(session.SESSION_COOKIE)
    if token:
        await auth.sign_out(store_of(request), token)
    response = RedirectResponse("/ui/login", status_code=303)
    session.close_session(response)
    return response


async def _minutes(
    store: Store, principal: Principal, webhook_id: str | None = None
) -> list[stats_store.Minute]:
    principal.require_site_admin()
    async with store.read() as conn:
        return await stats_store.attempts_per_minute(
            conn, principal.site.id, now=utcnow_precise(), webhook_id=webhook_id
        )


@router.get("/webhooks")
async def webhooks_page(request: Request, viewer: ViewerDep) -> Response:
    store = store_of(request)
    found = await webhooks.listing(store, viewer.principal)
    health = await overview.webhook_health(store, viewer.principal)
    minutes = await _minutes(store, viewer.principal)
    return pages_of(request).page(
        request,
        "webhooks.html",
        viewer=viewer,
        webhooks=found,
        health=health,
        no_health=WebhookHealth(),
        charts=[charts.attempts_chart(minutes), charts.latency_chart(minutes)],
        notice=NOTICES.get(request.query_params.get("done") or ""),
    )


def auto_disabled(webhook: WebhookOut) -> bool:
    """Disabled by the dispatcher (failures in a row, or 410 Gone), not by a person."""
    is_enabled, reason = webhook[5], webhook[6]
    return not is_enabled and reason.startswith(AUTO_DISABLED)


async def _story(store: Store, principal: Principal, webhook_id: str) -> list[dict[str, Any]]:
    """The webhook's latest deliveries, each with its attempts in order."""
    rows = await deliveries.listing(
        store,
        principal,
        webhook_id=webhook_id,
        status=None,
        since=None,
        until=None,
        before=None,
        limit=DELIVERIES_SHOWN,
    )
    story = []
    for row in rows:
        delivery, attempts = await deliveries.detail(store, principal, row["id"])
        story.append({**delivery, "attempt_log": attempts})
    return story


async def webhook_page_response(
    request: Request, viewer: session.Viewer, webhook_id: str, **extra: Any
) -> Response:
    """The webhook's page; ``extra`` may carry a ``test_result`` or a ``new_secret`` to show
    once (they are answers to a POST, never put in a URL)."""
    store = store_of(request)
    webhook = await webhooks.get(store, viewer.principal, webhook_id)
    minutes = await _minutes(store, viewer.principal, webhook_id)
    secrets = await deliveries.secrets(store, viewer.principal, webhook_id)
    done = request.query_params.get("done")
    return pages_of(request).page(
        request,
        "webhook.html",
        viewer=viewer,
        webhook=webhook,
        auto_disabled=auto_disabled(webhook),
        signing=secrets.current is not None,
        previous_secrets=secrets.previous,
        story=await _story(store, viewer.principal, webhook_id),
        charts=[charts.attempts_chart(minutes), charts.latency_chart(minutes)],
        notice=NOTICES.get(done or ""),
        test_result=extra.get("test_result"),
        new_secret=extra.get("new_secret"),
    )


@router.get("/webhooks/{webhook_id}")
async def webhook_page(request: Request, webhook_id: str, viewer: ViewerDep) -> Response:
    return await webhook_page_response(request, viewer, webhook_id)


@router.get("/webhooks/{webhook_id}/deliveries")
async def deliveries_partial(request: Request, webhook_id: str, viewer: ViewerDep) -> Response:
    """The timeline alone, fetched every few seconds by the page's script."""
    store = store_of(request)
    await webhooks.get(store, viewer.principal, webhook_id)
    html = pages_of(request).fragment(
        "_deliveries.html",
        viewer=viewer,
        webhook_id=webhook_id,
        story=await _story(store, viewer.principal, webhook_id),
    )
    return Response(html, media_type="text/html", headers={"Cache-Control": "no-store"})


def _policy(request: Request) -> DestinationPolicy:
    policy: DestinationPolicy = request.app.state.destination_policy
    return policy


@router.post("/webhooks/{webhook_id}/enable")
async def enable(request: Request, webhook_id: str, viewer: ViewerDep) -> Response:
    await session.checked_form(request, viewer.csrf)
    spec = webhooks.WebhookSpec(is_enabled=True)
    await webhooks.update(store_of(request), viewer.principal, _policy(request), webhook_id, spec)
    return RedirectResponse(f"/ui/webhooks/{quote(webhook_id)}?done=enabled", status_code=303)


@router.post("/webhooks/{webhook_id}/disable")
async def disable(request: Request, webhook_id: str, viewer: ViewerDep) -> Response:
    form = await session.checked_form(request, viewer.csrf)
    spec = webhooks.WebhookSpec(
        is_enabled=False, status_change_reason=form.get("reason", "").strip() or None
    )
    await webhooks.update(store_of(request), viewer.principal, _policy(request), webhook_id, spec)
    return RedirectResponse(f"/ui/webhooks/{quote(webhook_id)}?done=disabled", status_code=303)


@router.post("/webhooks/{webhook_id}/test")
async def send_test(request: Request, webhook_id: str, viewer: ViewerDep) -> Response:
    await session.checked_form(request, viewer.csrf)
    store = store_of(request)
    webhook = await webhooks.get_for_test(store, viewer.principal, webhook_id)
    sender: Sender = request.app.state.sender
    result = await webhook_test.run(store, sender, webhook)
    return await webhook_page_response(request, viewer, webhook_id, test_result=result)


@router.post("/deliveries/{delivery_id}/redeliver")
async def redeliver(request: Request, delivery_id: str, viewer: ViewerDep) -> Response:
    await session.checked_form(request, viewer.csrf)
    store = store_of(request)
    delivery, _ = await deliveries.detail(store, viewer.principal, delivery_id)
    done = "redelivered"
    try:
        await deliveries.redeliver(store, viewer.principal, delivery_id)
    except Conflict:
        done = "busy"
    webhook_id = delivery["webhook_id"]
    # A relay delivery has no webhook page: back to its own page in the delivery log.
    page = f"/ui/deliveries/{quote(delivery_id)}"
    if webhook_id:
        page = f"/ui/webhooks/{quote(webhook_id)}"
    return RedirectResponse(f"{page}?done={done}", status_code=303)
