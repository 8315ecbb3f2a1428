"""``/inbox/{bin id}`` and everything below it: capture any request, answer as the bin says.

A pure ASGI endpoint rather than a FastAPI route, because a route must list its methods and
a bin accepts any method, including ones no framework knows. No credentials are needed: the
unguessable bin id is the capability (the dashboard and JSON API, which change bins, need a
sign-in).

The request is stored *before* the answer is delayed or withheld, so it appears in the live
view at once even when the bin is told to be slow or never to answer. The body is read as a
stream and only the first ``inbox_max_body_bytes`` are kept, so a large upload costs no more
memory than that, and it is let go once stored: a bin told to answer after 30 s, or never,
holds a connection but not the body.

A flood is bounded twice. Each bin captures ``inbox_capture_burst`` requests at once and
``inbox_capture_rate_per_s`` sustained; beyond that it answers 429 with ``Retry-After``
before reading the body (a webhook sender retries later, as from a rate-limited receiver;
webhook.site answers 429 likewise). And at most ``inbox_captures_in_flight`` captures, of all
bins, receive and store a body at once; the rest wait their turn with their bodies unread, and
a body still arriving after ``inbox_capture_body_timeout_s`` is answered 408, so slow senders
cannot keep those places.

Whatever a bin is told to answer is served from tabhooks' own origin, so every answer carries
``Content-Security-Policy: sandbox`` and ``nosniff``: a bin answering HTML with a script in
it cannot act on the dashboard, and chosen headers come from an allow-list checked again here
(no cookies, no ``Refresh``, redirects only to this server; see ``answer_headers``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from tabhooks import hosts
from tabhooks.config import Settings
from tabhooks.delivery.signing import ID_HEADER
from tabhooks.errors import RequestTimeout, ResourceNotFound, TooManyRequests
from tabhooks.ids import new_id
from tabhooks.inbox import bins, chaos
from tabhooks.inbox.bins import Bin
from tabhooks.inbox.hub import InboxHub
from tabhooks.services.throttle import TokenBuckets
from tabhooks.store import Store
from tabhooks.store import inbox as inbox_store
from tabhooks.store.tables import utcnow_precise

log = logging.getLogger(__name__)

REQUEST_ID_PREFIX = "req_"
#: Longest a "never answer" bin holds a connection: past every sender's timeout (tabhooks
#: allows 120 s), after which it answers 504 rather than pin a socket forever.
HANG_MAX_S = 130.0
#: Sent with every answer so a sender's logs can be matched with the inspector.
REQUEST_ID_HEADER = "X-Tabhooks-Request-Id"
_SAFETY_HEADERS = {
    "Content-Security-Policy": "sandbox",
    "X-Content-Type-Options": "nosniff",
}
_MSG_ID_MAX_CHARS = 255
_METHOD_MAX_CHARS = 32


async def _read_body(request: Request, keep_bytes: int) -> tuple[bytes, int]:
    kept = bytearray()
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if len(kept) < keep_bytes:
            kept += chunk[: keep_bytes - len(kept)]
    return bytes(kept), size


async def _hang(receive: Receive, limit_s: float) -> bool:
    """Wait until the client hangs up (``True``) or ``limit_s`` passes (``False``)."""
    try:
        async with asyncio.timeout(limit_s):
            while (await receive())["type"] != "http.disconnect":
                pass
    except TimeoutError:
        return False
    return True


class CaptureEndpoint:
    """The ASGI app behind ``/inbox/{bin_id}{rest:path}``."""

    def __init__(self, store: Store, settings: Settings, hub: InboxHub) -> None:
        self.store = store
        self.settings = settings
        self.hub = hub
        self.rate = TokenBuckets(settings.inbox_capture_burst, settings.inbox_capture_rate_per_s)
        self._places = asyncio.Semaphore(settings.inbox_captures_in_flight)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        bin_id = str(scope["path_params"]["bin_id"])
        bin_ = await bins.find(self.store, bin_id)
        if bin_ is None:
            raise ResourceNotFound(f"No inbox bin '{bin_id}' exists.")
        wait_s = self.rate.take(bin_.id)
        if wait_s:
            raise TooManyRequests(
                f"Inbox bin '{bin_id}' is receiving more than "
                f"{self.settings.inbox_capture_rate_per_s:g} requests a second "
                "(TABHOOKS_INBOX_CAPTURE_RATE_PER_S); this one was not captured.",
                retry_after_s=wait_s,
            )
        async with self._places:
            request_id, reply = await self._capture(bin_, scope, receive)
        await self._answer(reply, request_id, scope, receive, send)

    async def _capture(self, bin_: Bin, scope: Scope, receive: Receive) -> tuple[str, chaos.Reply]:
        """Receive and store the request; what to answer. The body goes when this returns."""
        request = Request(scope, receive)
        limit_s = self.settings.inbox_capture_body_timeout_s
        try:
            async with asyncio.timeout(limit_s):
                body, size = await _read_body(request, self.settings.inbox_max_body_bytes)
        except TimeoutError:
            raise RequestTimeout(
                f"The body did not arrive within {limit_s:g} s "
                "(TABHOOKS_INBOX_CAPTURE_BODY_TIMEOUT_S); nothing was captured."
            ) from None
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        msg_id = request.headers.get(ID_HEADER)
        request_id = new_id(REQUEST_ID_PREFIX)
        async with self.store.write() as conn:
            forced = None
            if bin_.fail_remaining > 0 and not bin_.never_answer:
                forced = await inbox_store.take_forced_failure(conn, bin_.id)
            reply = chaos.choose(
                bin_,
                forced_remaining=forced,
                roll=random.random(),
                origins=hosts.server_origins(self.settings.public_url, str(request.base_url)),
            )
            await inbox_store.add_request(
                conn,
                {
                    "id": request_id,
                    "bin_id": bin_.id,
                    "method": str(scope["method"])[:_METHOD_MAX_CHARS],
                    "path": str(scope["path_params"].get("rest") or ""),
                    "query": scope.get("query_string", b"").decode("latin-1"),
                    "headers": json.dumps(headers),
                    "body": body,
                    "body_size": size,
                    "client_addr": scope["client"][0] if scope.get("client") else None,
                    "webhook_msg_id": msg_id[:_MSG_ID_MAX_CHARS] if msg_id else None,
                    "response_status": reply.status,
                    "note": reply.note,
                    "received_at": utcnow_precise(),
                },
                keep=bin_.max_requests,
                max_age_s=bin_.max_age_s,
            )
        self.hub.publish(bin_.id, "request")
        log.debug(
            "action=inbox_capture bin=%s request=%s status=%s", bin_.id, request_id, reply.status
        )
        return request_id, reply

    async def _answer(
        self, reply: chaos.Reply, request_id: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        if reply.status is None:
            if await _hang(receive, HANG_MAX_S):
                return  # the sender gave up, which was the point
            reply = chaos.Reply(504, body=b"tabhooks inbox: never answered\n")
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        assert reply.status is not None
        headers = dict(reply.headers)
        chosen = {k.lower() for k in headers}
        if reply.body and "content-type" not in chosen:
            headers["Content-Type"] = "text/plain; charset=utf-8"
        if "cache-control" not in chosen:
            headers["Cache-Control"] = "no-store"
        headers.update(_SAFETY_HEADERS)
        headers[REQUEST_ID_HEADER] = request_id
        await Response(reply.body, status_code=reply.status, headers=headers)(scope, receive, send)
