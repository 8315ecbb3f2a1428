"""Every request's checks, in one pure ASGI pass: host, body size, hostile input, last resort.

:class:`RequestGuard` is the app's only middleware of its own. It does, in this order, what
five middlewares used to do, each a layer that every request and every response message went
through (about 7.4 µs of a Get Webhook, against 2.4 µs for this pass; see docs/performance.md,
"REST API per-request layers"):

1. **Host** — a ``Host`` that is not ours is answered ``400 Invalid host header`` (plain
   text) before anything reads the request: links are built from it (:mod:`tabhooks.hosts`;
   it was Starlette's ``TrustedHostMiddleware``, and :class:`~tabhooks.hosts.HostCheck` is
   the same test).
2. **Body size** — a declared ``Content-Length`` over the limit is refused 413 before the body
   is read, and a body growing past it stops with 413. The upload routes (publish, and
   appending to an upload session; :func:`is_upload_route`) get ``TABHOOKS_MAX_UPLOAD_BYTES``;
   every other route the much smaller ``TABHOOKS_MAX_REQUEST_BYTES``, whatever the
   Content-Type claims (any client can claim ``multipart/*``).
3. **Hostile input** — refused 400000 before any handler sees it:

   - a NUL character in the path (``%00``) or the query string: PostgreSQL text cannot hold
     one, so any id or filter carrying it used to end in a DataError (a 500). ``/inbox/``
     keeps its query strings (a capture stores them raw), not NULs in its path;
   - a form body (``application/x-www-form-urlencoded``) with a NUL or another character XML
     1.0 cannot carry (as JSON bodies, see :mod:`tabhooks.jsontext`);
   - a JSON body on ``/tabhooks/`` that :func:`tabhooks.jsontext.looks_hostile` flags and
     :func:`tabhooks.jsontext.loads` refuses: FastAPI decodes with plain ``json.loads``, so a
     lone surrogate used to pass it and fail later with UnicodeEncodeError. Tableau routes
     decode with :func:`tabhooks.tsxml.parse_request`, which uses the same decoder.

   The bodies read here are replayed to the app. A request with no body (no
   ``Content-Length``, no ``Transfer-Encoding``: RFC 9112 §6.3) or a method whose body no
   route reads skips this step's body part, as it skips step 2.
4. **Last resort** — whatever escapes every handler is answered with Tableau's 500 envelope
   and one log line (:func:`tabhooks.api.errors.log_failure`); a :class:`TableauError`
   raised outside the routes (by a body read here) is rendered as itself. The guard sits
   inside Starlette's ``ServerErrorMiddleware``, which would otherwise log the traceback and
   re-raise it to uvicorn (which logs it again; a RecursionError made that thousands of lines
   per request).
5. **Security headers** — every ``text/html`` response gets :data:`SECURITY_HEADERS
   <tabhooks.web.headers.SECURITY_HEADERS>` it lacks (:func:`tabhooks.web.headers.secure_html`).

The headers all of these need are found in one walk over the request's headers, and the
response goes through one ``send`` wrapper. No ``BaseHTTPMiddleware``: it runs the app in a
task of its own per request.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tabhooks import jsontext
from tabhooks.api.errors import error_response, log_failure
from tabhooks.errors import BadRequest, InternalError, PayloadTooLarge, TableauError
from tabhooks.hosts import HostCheck
from tabhooks.web.headers import secure_html

#: A body check: returns if the body may pass, raises a TableauError to refuse it.
_Check = Callable[[bytes], None]

#: Methods whose bodies no route reads.
_BODILESS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})

#: Routes whose bodies are files (publish, and appending to an upload session): they get
#: TABHOOKS_MAX_UPLOAD_BYTES; every other route TABHOOKS_MAX_REQUEST_BYTES, whatever the
#: Content-Type claims.
_UPLOAD_ROUTES = {
    "POST": re.compile(r"/api/[^/]+/sites/[^/]+/(?:workbooks|datasources|flows)/?"),
    "PUT": re.compile(r"/api/[^/]+/sites/[^/]+/fileUploads/[^/]+/?"),
}

#: In a form body, encoded or raw: what :mod:`tabhooks.jsontext` refuses in JSON strings (NUL
#: and the other characters XML 1.0 cannot carry), since form fields end up in the same rows.
_FORM_UNSTORABLE = re.compile(
    rb"%(?:0[0-8bcef]|1[0-9a-f]|ef%bf%b[ef])|[\x00-\x08\x0b\x0c\x0e-\x1f]", re.IGNORECASE
)


def is_upload_route(method: str, path: str) -> bool:
    """Whether ``method path`` takes a file body (and so the upload limit)."""
    pattern = _UPLOAD_ROUTES.get(method)
    return pattern is not None and pattern.fullmatch(path) is not None


class RequestGuard:
    """The app's checks on every request, in one pass (see the module docstring).

    Args:
        app: The app inside (FastAPI's exception middleware and router).
        allowed_hosts: The ``Host`` patterns answered (:func:`tabhooks.hosts.allowed_hosts`;
            ``*`` answers any).
        max_request_bytes: The body limit of every route but the upload routes.
        max_upload_bytes: The body limit of the upload routes.
        security_headers: Whether HTML responses get the security headers (the UI's; the
            relay role serves no pages).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        allowed_hosts: Sequence[str],
        max_request_bytes: int,
        max_upload_bytes: int,
        security_headers: bool = True,
    ) -> None:
        self.app = app
        self.hosts = HostCheck(allowed_hosts)
        self.max_request_bytes = max_request_bytes
        self.max_upload_bytes = max_upload_bytes
        self.security_headers = security_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http":
            if kind == "websocket" and not self.hosts.allows(_first(scope, b"host")):
                await _invalid_host()(scope, receive, send)  # as TrustedHostMiddleware did
                return
            await self.app(scope, receive, send)  # lifespan
            return
        # The five headers the steps need, found in one walk. ASGI servers give names in
        # lower case; the first of each counts, as Starlette's Headers.get returns it.
        host = declared = chunked = accept = content_type = None
        for key, value in scope["headers"]:
            if key == b"host":
                host = value if host is None else host
            elif key == b"content-length":
                declared = value if declared is None else declared
            elif key == b"transfer-encoding":
                chunked = value if chunked is None else chunked
            elif key == b"accept":
                accept = value if accept is None else accept
            elif key == b"content-type":
                content_type = value if content_type is None else content_type
        if not self.hosts.allows(host):
            await _invalid_host()(scope, receive, send)
            return
        has_body = declared is not None or chunked is not None
        if has_body:
            upload = is_upload_route(scope["method"], scope["path"])
            limit = self.max_upload_bytes if upload else self.max_request_bytes
            if declared is not None and declared.isdigit() and int(declared) > limit:
                await _refuse_too_large(scope, receive, send, _decoded(accept), limit)
                return
            receive = _limited(receive, limit)
        started = False
        secure = self.security_headers

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if secure:
                    message = secure_html(message)
            await send(message)

        try:
            path: str = scope["path"]
            if "\x00" in path or (
                b"%00" in scope.get("query_string", b"") and not path.startswith("/inbox/")
            ):
                await _refuse(scope, receive, guarded_send, accept, _nul_in_url())
                return
            if has_body and scope["method"] not in _BODILESS:
                check = _body_check(path, content_type)
                if check is not None:
                    replayed = await _checked(receive, check)
                    if replayed is None:
                        return  # the client left before sending its body: nobody to answer
                    receive = replayed
            await self.app(scope, receive, guarded_send)
        except TableauError as exc:
            if started:
                log_failure(scope["method"], scope["path"], exc)
                return
            await _refuse(scope, receive, guarded_send, accept, exc)
        except Exception as exc:
            log_failure(scope["method"], scope["path"], exc)
            if not started:  # else the server closes the half-sent response
                await _refuse(scope, receive, guarded_send, accept, InternalError())


def _invalid_host() -> PlainTextResponse:
    """Starlette's ``TrustedHostMiddleware``'s answer, word for word."""
    return PlainTextResponse("Invalid host header", status_code=400)


def _first(scope: Scope, wanted: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == wanted:
            return bytes(value)
    return None


def _decoded(value: bytes | None) -> str | None:
    return value.decode("latin-1") if value is not None else None


def _nul_in_url() -> BadRequest:
    """Step 3's refusal of a NUL in the path, or outside ``/inbox/`` in the query."""
    return BadRequest("The URL contains a NUL character (%00), which no name or id can hold.")


async def _refuse(
    scope: Scope, receive: Receive, send: Send, accept: bytes | None, error: TableauError
) -> None:
    """Answer ``error`` in the envelope; tabhooks' own JSON API answers JSON unless XML is
    asked for (as :func:`tabhooks.api.errors.error_response`'s handlers choose)."""
    shown = _decoded(accept)
    if str(scope["path"]).startswith("/tabhooks/") and "xml" not in (shown or "").lower():
        shown = "application/json"
    await error_response(error, shown)(scope, receive, send)


async def _refuse_too_large(
    scope: Scope, receive: Receive, send: Send, accept: str | None, limit: int
) -> None:
    response = error_response(PayloadTooLarge(_too_large(limit)), accept)
    response.headers["connection"] = "close"
    await response(scope, receive, send)


def _limited(receive: Receive, limit: int) -> Receive:
    """``receive``, raising 413 once the body received passes ``limit`` bytes."""
    seen = 0

    async def limited_receive() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise PayloadTooLarge(_too_large(limit))
        return message

    return limited_receive


def _too_large(limit: int) -> str:
    return f"The request body is larger than this server accepts ({limit} bytes)."


def _body_check(path: str, content_type: bytes | None) -> _Check | None:
    """Which check step 3 runs on this request's body, if any."""
    if content_type is None:
        return None
    media = content_type.decode("latin-1")
    if path.startswith("/tabhooks/") and _is_json(media):
        return _check_json
    if not path.startswith("/inbox/") and _is_form(media):
        return _check_form
    return None


async def _checked(receive: Receive, check: _Check) -> Receive | None:
    """Read the whole body, run ``check`` on it (it raises to refuse), and return a
    ``receive`` that replays it; ``None`` when the client left before sending it all."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    check(body)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _check_json(body: bytes) -> None:
    if jsontext.looks_hostile(body):
        jsontext.loads(body)


def _check_form(body: bytes) -> None:
    if _FORM_UNSTORABLE.search(body) is not None:
        raise BadRequest(
            "The form contains a NUL or another control character (such as %00 or %08), which "
            "no field can hold."
        )


def _is_form(content_type: str) -> bool:
    return content_type.lower().startswith("application/x-www-form-urlencoded")


def _is_json(content_type: str) -> bool:
    """What FastAPI decodes as JSON: ``application/json`` and ``application/*+json``."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media.startswith("application/") and (media.endswith("/json") or media.endswith("+json"))
