"""``/ui/bins``: the inspector's pages — bin list, the live bin page, its stream and forms.

Who sees what: a bin's page and live stream are open to anyone holding its unguessable URL
(like webhook.site: the id already lets you post to it), unless ``inbox_public_view`` is off,
when they need a dashboard sign-in on the bin's site. Changing a bin — its answers, chaos,
secret, clearing, deleting, replaying — needs a sign-in as someone who may manage it
(``bins.may_manage``: its creator, a site or server administrator), who alone see the settings
form, the secret in it and the replay forms. Every form needs a CSRF token.

The page is an inspector: the list of requests on the left, the selected one's detail on the
right. ``?request=<id>`` selects one (the newest when none is given), so a link opens it
selected and the page works without script; ``static/bins.js`` selects by click and keyboard,
fetching the detail pane from ``/ui/bins/{id}/requests/{request_id}/pane`` (rendered by the
same template) and keeping ``?request=`` in the address bar.

The live stream is server-sent events (one-way, auto-reconnecting, plain HTTP). Each event
carries the request's card rendered by the same template as the page, so a live card and a
reloaded one are identical, and escaped identically.

Watching is bounded (:mod:`tabhooks.inbox.watchers`): a live view needs a place (per bin, per
client address, in all; 429 with ``Retry-After`` beyond), pages and cards render in worker
threads, a page reads at most :data:`PAGE_MAX_BYTES` of bodies, and a client that leaves an
event unread for ``inbox_stream_send_timeout_s`` loses its stream, so one that never reads
holds neither memory nor a place for long.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.types import Message, Receive, Scope, Send

from tabhooks import hosts
from tabhooks.api.deps import store_of
from tabhooks.api.wire import base_url
from tabhooks.delivery.retry import ErrorClass
from tabhooks.delivery.sender import Sender
from tabhooks.errors import BadRequest, InboxQuotaExceeded, ResourceNotFound, TooManyRequests
from tabhooks.inbox import bins, history, live, replay
from tabhooks.inbox.bins import Bin, BinChanges
from tabhooks.inbox.hub import InboxHub
from tabhooks.inbox.inspection import Captured
from tabhooks.inbox.watchers import Place, Watchers
from tabhooks.store.tables import utcnow_precise
from tabhooks.web import request_view, session
from tabhooks.web.session import MaybeViewerDep, Viewer, ViewerDep
from tabhooks.web.templating import Pages, pages_of

log = logging.getLogger(__name__)

router = APIRouter(prefix="/ui/bins", include_in_schema=False)

#: A stream ends after this long and the browser reconnects (resuming where it was), so a
#: server shutting down never waits on a stream that would otherwise never end.
STREAM_MAX_S = 300.0
#: Body bytes one bin page shows at most (at least one request; "Older requests" goes on).
PAGE_MAX_BYTES = 4 * 1024 * 1024
#: Larger ``since`` values are not times (the year 5138); they fall back to "now".
_EPOCH_S_MAX = 1e11
_ERROR_CODES = frozenset(e.value for e in ErrorClass)
NOTICES = {
    "saved": "Settings saved.",
    "cleared": "Bin cleared.",
    "replayed": "Replayed.",
}


def _hub(request: Request) -> InboxHub:
    hub: InboxHub = request.app.state.inbox_hub
    return hub


def _watchers(request: Request) -> Watchers:
    watchers: Watchers = request.app.state.inbox_watchers
    return watchers


class _Lagging(Exception):
    """The client left an event unread for longer than the stream allows."""


class LiveResponse(StreamingResponse):
    """A stream that holds a :class:`Place` while it runs and ends a client that stops reading.

    Writing waits while the client does not read (the transport's buffer is full), so without
    a limit a client that never reads would hold its place, its subscription and the event
    being written for ever. Each write may wait ``send_timeout_s``; then the stream ends.
    """

    def __init__(self, content: AsyncIterator[str], *, place: Place, send_timeout_s: float) -> None:
        super().__init__(
            content,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )
        self.place = place
        self.send_timeout_s = send_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def timed_send(message: Message) -> None:
            try:
                async with asyncio.timeout(self.send_timeout_s):
                    await send(message)
            except TimeoutError:
                raise _Lagging from None

        try:
            await super().__call__(scope, receive, timed_send)
        except _Lagging:
            log.info(
                "action=inbox_stream_dropped bin=%s client=%s reason=not_reading for=%ss",
                self.place.bin_id,
                self.place.address,
                self.send_timeout_s,
            )
        finally:
            self.place.release()
            closing = getattr(self.body_iterator, "aclose", None)
            if closing is not None:
                await closing()  # leave the hub now, not when the generator is collected


def _member(viewer: Viewer | None, bin_: Bin) -> Viewer | None:
    """The viewer, if they are signed in on the bin's site (they may see it when it is not
    public, and find their way back to the site's bin list)."""
    return viewer if viewer is not None and viewer.principal.site.id == bin_.site_id else None


def _manager(viewer: Viewer | None, bin_: Bin) -> Viewer | None:
    """The viewer, if they may change the bin and see its secret."""
    return viewer if viewer is not None and bins.may_manage(viewer.principal, bin_) else None


def _origins(request: Request) -> frozenset[str]:
    """Where a bin's chosen ``Location`` may point: this server, as the viewer reaches it."""
    public_url: str | None = request.app.state.settings.public_url
    return hosts.server_origins(public_url, str(request.base_url))


async def _viewable(request: Request, bin_id: str, viewer: Viewer | None) -> Bin:
    bin_ = await bins.find(store_of(request), bin_id)
    public = request.app.state.settings.inbox_public_view
    if bin_ is None or (not public and _member(viewer, bin_) is None):
        if not public and viewer is None:
            raise session.SignInRequired(request.url.path)
        raise ResourceNotFound(f"No inbox bin '{bin_id}' exists.")
    return bin_


@router.get("")
async def bins_page(request: Request, viewer: ViewerDep) -> Response:
    found = await bins.listing(store_of(request), viewer.principal)
    return pages_of(request).page(
        request, "bins.html", viewer=viewer, bins=found, base=base_url(request)
    )


@router.post("")
async def create_bin(request: Request, viewer: ViewerDep) -> Response:
    form = await session.checked_form(request, viewer.csrf)
    changes = BinChanges(name=form.get("name", "").strip() or None)
    store = store_of(request)
    try:
        created = await bins.create(store, request.app.state.settings, viewer.principal, changes)
    except InboxQuotaExceeded as exc:
        found = await bins.listing(store, viewer.principal)
        return pages_of(request).page(
            request,
            "bins.html",
            status=exc.status,
            viewer=viewer,
            bins=found,
            base=base_url(request),
            error=exc.detail,
        )
    return RedirectResponse(f"/ui/bins/{quote(created.id)}", status_code=303)


def _card_context(bin_: Bin, viewer: Viewer | None, base: str) -> dict[str, Any]:
    """What the page, each request's row and the detail pane see: who is of the bin's site
    (``member``) and who may change the bin (``manager``): the settings form, with the secret,
    and the replay form are for the latter. A live row is never the selected one and belongs
    to the newest page (no ``before``); only a live row carries its pane (``with_pane``)."""
    return {
        "bin": bin_,
        "member": _member(viewer, bin_),
        "manager": _manager(viewer, bin_),
        "base": base,
        "view": request_view,
        "selected_id": None,
        "before": None,
        "with_pane": False,
    }


@router.get("/{bin_id}")
async def bin_page(
    request: Request, bin_id: str, viewer: MaybeViewerDep, before: str | None = None
) -> Response:
    """The inspector; ``?request=<id>`` opens with that request selected (404 when the bin no
    longer holds it), ``?before=<id>`` shows an older page."""
    return await _bin_page(request, bin_id, viewer, before=before)


async def _bin_page(
    request: Request,
    bin_id: str,
    viewer: Viewer | None,
    *,
    before: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    bin_ = await _viewable(request, bin_id, viewer)
    watchers = _watchers(request)
    async with watchers.building():  # a few pages at a time hold their bodies
        return await _build_page(request, bin_, viewer, before, error, status)


async def _selection(
    request: Request, bin_: Bin, shown: list[Captured]
) -> tuple[Captured | None, str | None]:
    """The request the detail pane shows, and why none is when one was asked for.

    ``?request=`` names it (read on its own when it is not on this page: an older one); with
    none named, the newest shown is selected, as inspectors do.
    """
    wanted = request.query_params.get("request")
    if not wanted:
        return (shown[0] if shown else None), None
    found = next((item for item in shown if item.id == wanted), None)
    if found is not None:
        return found, None
    try:
        return await history.one(store_of(request), bin_, wanted), None
    except ResourceNotFound as exc:
        return None, exc.detail


async def _build_page(
    request: Request,
    bin_: Bin,
    viewer: Viewer | None,
    before: str | None,
    error: str | None,
    status: int,
) -> Response:
    found = await history.page(store_of(request), bin_, before=before, max_bytes=PAGE_MAX_BYTES)
    selected, missing = await _selection(request, bin_, found.items)
    if missing is not None and status == 200:
        status = 404
    params = request.query_params
    done = params.get("done")
    base = base_url(request)
    context = _card_context(bin_, viewer, base)
    context.update(selected_id=selected.id if selected else None, before=before)
    # Each card may pretty-print a 256 KiB body: rendered in a worker thread, off the loop.
    return await _watchers(request).render(
        pages_of(request).page,
        request,
        "bin.html",
        status=status,
        viewer=viewer,
        requests=found.items,
        older=found.next_before,
        live=before is None,
        since=utcnow_precise().timestamp(),
        notice=NOTICES.get(done or ""),
        replay_status=status_text if (status_text := params.get("status", "")).isdigit() else None,
        replay_error=failure if (failure := params.get("failure")) in _ERROR_CODES else None,
        error=error,
        selected=selected,
        missing=missing,
        **context,
    )


@router.get("/{bin_id}/requests/{request_id}/pane")
async def request_pane(
    request: Request, bin_id: str, request_id: str, viewer: MaybeViewerDep
) -> Response:
    """The detail pane of one request, as an HTML fragment ``bins.js`` puts in the page.

    Seen by whoever may see the bin's page; the replay form in it only by who manages the bin.
    404 (with the pane's "not held" text) when the bin no longer holds the request.
    """
    bin_ = await _viewable(request, bin_id, viewer)
    watchers = _watchers(request)
    context = _card_context(bin_, viewer, base_url(request))
    status, missing, item = 200, None, None
    async with watchers.building():
        try:
            item = await history.one(store_of(request), bin_, request_id)
        except ResourceNotFound as exc:
            status, missing = exc.status, exc.detail
        html = await watchers.render(
            pages_of(request).fragment,
            "_request_detail.html",
            item=item,
            missing=missing,
            **context,
        )
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def _frame(event: str, data: dict[str, Any], event_id: str | None = None) -> str:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\ndata: {json.dumps(data)}\n\n"


def _card_frame(pages: Pages, item: Captured, context: dict[str, Any]) -> str:
    """The ``request`` event of one captured request: its row, as the page renders it, with
    its detail pane (inert until selected)."""
    html = pages.fragment("_request.html", item=item, **{**context, "with_pane": True})
    payload = {"id": item.id, "webhook_id": item.webhook_msg_id, "html": html}
    return _frame("request", payload, item.id)


@router.get("/{bin_id}/stream")
async def stream(
    request: Request, bin_id: str, viewer: MaybeViewerDep, since: float | None = None
) -> Response:
    """Server-sent events: ``request`` (with the rendered card), ``cleared``, ``deleted``.

    429 (an HTML page with ``Retry-After``) when the bin, the client's address or the server
    has as many live views open as allowed.
    """
    bin_ = await _viewable(request, bin_id, viewer)
    watchers = _watchers(request)
    address = request.client.host if request.client else "unknown"
    try:
        place = watchers.admit(bin_.id, address)
    except TooManyRequests as exc:
        refused = pages_of(request).page(
            request, "error.html", status=exc.status, title=exc.summary, message=exc.detail
        )
        refused.headers["Retry-After"] = str(exc.retry_after_s)
        return refused
    try:
        return _live(request, bin_, viewer, since, place)
    except BaseException:
        place.release()
        raise


async def _resume_point(request: Request, bin_: Bin, since: float | None) -> tuple[datetime, str]:
    """Where a stream starts: after ``Last-Event-ID`` when the browser reconnects, else at
    ``since`` (when the page was rendered), else now."""
    resume = request.headers.get("last-event-id") or ""
    after = await history.arrival_of(store_of(request), bin_, resume) if resume else None
    if after is None:
        after = utcnow_precise()
        if since is not None and 0 < since < _EPOCH_S_MAX:
            after = datetime.fromtimestamp(since, UTC)
    return after, resume


def _live(
    request: Request, bin_: Bin, viewer: Viewer | None, since: float | None, place: Place
) -> Response:
    store = store_of(request)
    watchers = _watchers(request)
    context = _card_context(bin_, viewer, base_url(request))
    pages = pages_of(request)
    # What a card depends on besides the request and its verdicts: the replay forms and their
    # CSRF token, for those who manage the bin. Other viewers' cards are identical: rendered once.
    manager = context["manager"]
    card_key = (bin_.id, context["base"], manager.csrf if manager is not None else None)

    async def frames() -> AsyncIterator[str]:
        yield "retry: 1000\n\n"
        after, resume = await _resume_point(request, bin_, since)
        deadline = asyncio.get_running_loop().time() + STREAM_MAX_S
        changes = live.follow(store, _hub(request), bin_, after=after, shown=[resume])
        try:
            async for change in changes:
                if change.kind is live.ChangeKind.REQUEST and change.request is not None:
                    item = change.request
                    yield await watchers.shared(
                        (item.id, item.signature, item.occurrence, item.occurrences, card_key),
                        _card_frame,
                        pages,
                        item,
                        context,
                    )
                elif change.kind is live.ChangeKind.KEEPALIVE:
                    yield ": keepalive\n\n"
                else:
                    yield _frame(change.kind.value, {})
                    if change.kind is live.ChangeKind.DELETED:
                        return
                if asyncio.get_running_loop().time() > deadline:
                    return
        finally:
            await changes.aclose()

    return LiveResponse(frames(), place=place, send_timeout_s=watchers.limits.send_timeout_s)


def _number(form: dict[str, str], key: str, kind: type[int] | type[float], blank: Any) -> Any:
    """A numeric field: ``None`` when the form lacks it, ``blank`` when left empty."""
    if key not in form:
        return None
    raw = form[key].strip()
    if not raw:
        return blank
    try:
        return kind(raw)
    except ValueError:
        noun = "a whole number" if kind is int else "a number"
        raise BadRequest(f"{key.replace('_', ' ')} must be {noun}.") from None


def _headers(text: str) -> dict[str, str]:
    """``Name: value`` lines, as typed in the settings form."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise BadRequest(f"Response header line '{line}' needs 'Name: value'.")
        out[name.strip()] = value.strip()
    return out


def settings_from_form(form: dict[str, str]) -> BinChanges:
    """The settings form's fields; a field the form lacks is left unchanged.

    The form sends ``never_answer=off`` from a hidden input before the checkbox, so an
    unticked box (which browsers omit) still reads as "off" and the last value wins.
    """
    age_hours = _number(form, "max_age_hours", float, None)
    return BinChanges(
        name=form.get("name") or None,
        max_requests=_number(form, "max_requests", int, None),
        max_age_s=round(age_hours * 3600) if age_hours is not None else None,
        response_status=_number(form, "response_status", int, None),
        response_headers=_headers(form["response_headers"]) if "response_headers" in form else None,
        response_body=form.get("response_body"),
        response_delay_s=_number(form, "response_delay_s", float, 0.0),
        fail_next=_number(form, "fail_next", int, 0),
        fail_percent=_number(form, "fail_percent", int, 0),
        fail_status=_number(form, "fail_status", int, None),
        never_answer=form["never_answer"] == "on" if "never_answer" in form else None,
        signing_secret=form.get("signing_secret"),
    )


def _back(bin_id: str, **params: str) -> Response:
    query = f"?{urlencode(params)}" if params else ""
    return RedirectResponse(f"/ui/bins/{quote(bin_id)}{query}", status_code=303)


@router.post("/{bin_id}/settings")
async def save_settings(request: Request, bin_id: str, viewer: ViewerDep) -> Response:
    form = await session.checked_form(request, viewer.csrf)
    try:
        await bins.update(
            store_of(request),
            request.app.state.settings,
            viewer.principal,
            bin_id,
            settings_from_form(form),
            _origins(request),
        )
    except (BadRequest, InboxQuotaExceeded) as exc:
        return await _bin_page(request, bin_id, viewer, error=exc.detail, status=exc.status)
    return _back(bin_id, done="saved")


@router.post("/{bin_id}/clear")
async def clear(request: Request, bin_id: str, viewer: ViewerDep) -> Response:
    await session.checked_form(request, viewer.csrf)
    await bins.clear(store_of(request), viewer.principal, _hub(request), bin_id)
    return _back(bin_id, done="cleared")


@router.post("/{bin_id}/delete")
async def delete(request: Request, bin_id: str, viewer: ViewerDep) -> Response:
    await session.checked_form(request, viewer.csrf)
    await bins.delete(store_of(request), viewer.principal, _hub(request), bin_id)
    return RedirectResponse("/ui/bins", status_code=303)


@router.post("/{bin_id}/requests/{request_id}/replay")
async def replay_request(
    request: Request, bin_id: str, request_id: str, viewer: ViewerDep
) -> Response:
    form = await session.checked_form(request, viewer.csrf)
    sender: Sender = request.app.state.sender
    try:
        outcome = await replay.replay(
            store_of(request), sender, viewer.principal, bin_id, request_id, form.get("url", "")
        )
    except BadRequest as exc:
        return await _bin_page(request, bin_id, viewer, error=exc.detail, status=400)
    if outcome.status is not None:
        return _back(bin_id, done="replayed", status=str(outcome.status), request=request_id)
    return _back(bin_id, done="replayed", failure=str(outcome.error), request=request_id)
