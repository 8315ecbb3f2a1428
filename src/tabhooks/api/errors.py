"""Rendering every failure as Tableau's error envelope, and capping request bodies.

Whatever a client sends, it gets ``<error code summary detail>`` with the matching status:
routing misses become 404003, wrong methods 405000, parameter validation 400000, oversized
bodies 413, and anything unexpected is answered 500000 and logged as one line (a 500 is
still a bug: the line says where it was raised). Starlette's own last-resort handler logs
the traceback and re-raises it to the server, which logs it again; a RecursionError made
that thousands of lines per request, so :class:`LastResortMiddleware` answers first.
"""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tabhooks import jsontext, tsxml
from tabhooks.errors import (
    BadRequest,
    InternalError,
    MethodNotAllowed,
    PayloadTooLarge,
    ResourceNotFound,
    TableauError,
    TooManyRequests,
)

log = logging.getLogger(__name__)


def error_response(error: TableauError, accept: str | None) -> Response:
    dialect = tsxml.choose_dialect(accept)
    body = tsxml.render(
        [
            tsxml.element(
                "error",
                tsxml.element("summary", text=error.summary),
                # The detail may quote what the client sent, control characters included.
                tsxml.element("detail", text=tsxml.scrub(error.detail)),
                code=error.code,
            )
        ],
        dialect,
    )
    return Response(body, status_code=error.status, media_type=dialect.content_type)


def _accept(request: Request) -> str | None:
    """The client's Accept; tabhooks' own JSON API answers JSON unless XML is asked for."""
    accept = request.headers.get("accept")
    if request.url.path.startswith("/tabhooks/") and "xml" not in (accept or "").lower():
        return "application/json"
    return accept


async def _on_tableau_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TableauError)
    response = error_response(exc, _accept(request))
    if isinstance(exc, TooManyRequests):
        response.headers["Retry-After"] = str(exc.retry_after_s)
    return response


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    error: TableauError
    if exc.status_code == 404:
        error = ResourceNotFound(f"Unknown resource '{request.url.path}' specified in URI.")
    elif exc.status_code == 405:
        error = MethodNotAllowed(f"{request.method} is not allowed on '{request.url.path}'.")
    elif exc.status_code == 413:
        error = PayloadTooLarge()
    elif 400 <= exc.status_code < 500:
        error = BadRequest(str(exc.detail))
        error.status = exc.status_code
        error.code = f"{exc.status_code}000"
    else:
        error = InternalError()
    response = error_response(error, _accept(request))
    if exc.status_code == 405 and exc.headers:
        response.headers.update(exc.headers)
    return response


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg')}" for err in exc.errors()
    )
    return error_response(BadRequest(f"Invalid request: {problems}"), _accept(request))


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    _log_failure(request.method, request.url.path, exc)
    return error_response(InternalError(), _accept(request))


def install_error_handlers(app: FastAPI) -> None:
    """Render every error as Tableau's envelope, including the ones that escape handlers.

    Besides the exception handlers this adds two pure ASGI middlewares, innermost first:
    :class:`InputGuard` (NULs in URLs and forms, hostile JSON bodies on ``/tabhooks/``) and
    :class:`LastResortMiddleware` (anything unexpected becomes a one-line log and a 500
    envelope). Middleware added after this call sits outside both.
    """
    app.add_exception_handler(TableauError, _on_tableau_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(Exception, _on_unexpected)
    app.add_middleware(InputGuard)
    app.add_middleware(LastResortMiddleware)


def _log_failure(method: str, path: str, exc: BaseException) -> None:
    """One line per unexpected failure: what, where it was raised, on which request."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb is not None else "?"
    # The driver's words, not the statement and its parameters SQLAlchemy appends.
    message = " ".join(str(exc).split("[SQL:", 1)[0].split())[:200]
    log.error(
        "action=request_failed method=%s path=%s error=%s where=%s message=%r",
        method, path[:200].encode("unicode_escape").decode("ascii"), type(exc).__name__,
        where, message,
    )  # fmt: skip


def _header(scope: Scope, wanted: bytes) -> str | None:
    """One header's value; ``wanted`` in lower case, as ASGI servers give header names."""
    for key, value in scope["headers"]:
        if key == wanted:
            return bytes(value).decode("latin-1")
    return None


def _scope_accept(scope: Scope) -> str | None:
    """:func:`_accept` for a bare ASGI scope."""
    accept = _header(scope, b"accept")
    if str(scope.get("path", "")).startswith("/tabhooks/") and "xml" not in (accept or "").lower():
        return "application/json"
    return accept


class LastResortMiddleware:
    """Answer whatever escapes every handler with Tableau's 500 envelope and one log line.

    Sits inside Starlette's ``ServerErrorMiddleware``, which would otherwise log the
    traceback and re-raise it to uvicorn (which logs it again). A :class:`TableauError`
    raised outside the routes (a body read by a middleware) is rendered as itself.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except TableauError as exc:
            if started:
                _log_failure(scope["method"], scope["path"], exc)
                return
            await error_response(exc, _scope_accept(scope))(scope, receive, send)
        except Exception as exc:
            _log_failure(scope["method"], scope["path"], exc)
            if not started:  # else the server closes the half-sent response
                await error_response(InternalError(), _scope_accept(scope))(scope, receive, send)


class InputGuard:
    """Refuse input no handler could store before any handler sees it.

    - A NUL character in the path (``%00``) or the query string: PostgreSQL text cannot hold
      one, so any id or filter carrying it used to end in a DataError (a 500).
      ``/inbox/`` keeps its query strings (a capture stores them raw), not NULs in its path.
    - A form body (``application/x-www-form-urlencoded``) with a NUL, for the same reason, or
      another character XML 1.0 cannot carry (as JSON bodies, see :mod:`tabhooks.jsontext`).
    - A JSON body on ``/tabhooks/`` that :func:`tabhooks.jsontext.looks_hostile` flags and
      :func:`tabhooks.jsontext.loads` refuses: FastAPI decodes with plain ``json.loads``, so a
      lone surrogate used to pass it and fail later with UnicodeEncodeError. Tableau routes
      decode with :func:`tabhooks.tsxml.parse_request`, which uses the same decoder.

    Each is 400000 in the envelope. Other bodies are handed on untouched; the ones read here
    (already capped by :class:`BodyLimitMiddleware`) are replayed to the app.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope["path"])
        capture = path.startswith("/inbox/")
        if "\x00" in path or (not capture and b"%00" in scope.get("query_string", b"")):
            await self._refuse(scope, receive, send, BadRequest(
                "The URL contains a NUL character (%00), which no name or id can hold."
            ))  # fmt: skip
            return
        if scope["method"] in _BODILESS:  # the hot path: no body to look at
            await self.app(scope, receive, send)
            return
        content_type = _header(scope, b"content-type")
        if path.startswith("/tabhooks/") and _is_json(content_type):
            check = _check_json
        elif not capture and _is_form(content_type):
            check = _check_form
        else:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left before sending its body: nobody to answer
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            check(body)
        except TableauError as exc:
            await self._refuse(scope, receive, send, exc)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, error: TableauError) -> None:
        await error_response(error, _scope_accept(scope))(scope, receive, send)


#: Methods whose bodies no route reads.
_BODILESS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})


def _check_json(body: bytes) -> None:
    if jsontext.looks_hostile(body):
        jsontext.loads(body)


#: In a form body, encoded or raw: what :mod:`tabhooks.jsontext` refuses in JSON strings (NUL
#: and the other characters XML 1.0 cannot carry), since form fields end up in the same rows.
_FORM_UNSTORABLE = re.compile(
    rb"%(?:0[0-8bcef]|1[0-9a-f]|ef%bf%b[ef])|[\x00-\x08\x0b\x0c\x0e-\x1f]", re.IGNORECASE
)


def _check_form(body: bytes) -> None:
    if _FORM_UNSTORABLE.search(body) is not None:
        raise BadRequest(
            "The form contains a NUL or another control character (such as %00 or %08), which "
            "no field can hold."
        )


def _is_form(content_type: str | None) -> bool:
    return content_type is not None and content_type.lower().startswith(
        "application/x-www-form-urlencoded"
    )


def _is_json(content_type: str | None) -> bool:
    """What FastAPI decodes as JSON: ``application/json`` and ``application/*+json``."""
    if content_type is None:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media.startswith("application/") and (media.endswith("/json") or media.endswith("+json"))


#: Routes whose bodies are files (publish, and appending to an upload session): they get
#: TABHOOKS_MAX_UPLOAD_BYTES; every other route TABHOOKS_MAX_REQUEST_BYTES, whatever the
#: Content-Type claims.
_UPLOAD_ROUTES = {
    "POST": re.compile(r"/api/[^/]+/sites/[^/]+/(?:workbooks|datasources|flows)/?"),
    "PUT": re.compile(r"/api/[^/]+/sites/[^/]+/fileUploads/[^/]+/?"),
}


def is_upload_route(method: str, path: str) -> bool:
    """Whether ``method path`` takes a file body (and so the upload limit)."""
    pattern = _UPLOAD_ROUTES.get(method)
    return pattern is not None and pattern.fullmatch(path) is not None


class BodyLimitMiddleware:
    """Refuse bodies over the limit before reading them, and stop streams that grow past it.

    The upload routes (publish, and appending to an upload session; see
    :func:`is_upload_route`) get the upload limit; everything else the much smaller request
    limit. The route decides, not the Content-Type: any client can claim ``multipart/*``.
    """

    def __init__(self, app: ASGIApp, *, max_request_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_request_bytes = max_request_bytes
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Only the three headers it needs, found in one pass: this runs on every request, and
        # decoding every header into a dict first was a visible share of a Get Webhook.
        declared = chunked = accept = None
        for key, value in scope["headers"]:
            name = key.lower()
            if name == b"content-length":
                declared = value
            elif name == b"transfer-encoding":
                chunked = value
            elif name == b"accept":
                accept = value
        if declared is None and chunked is None:  # no body (RFC 9112 §6.3): nothing to cap
            await self.app(scope, receive, send)
            return
        upload = is_upload_route(scope["method"], scope["path"])
        limit = self.max_upload_bytes if upload else self.max_request_bytes
        if declared is not None and declared.isdigit() and int(declared) > limit:
            shown = accept.decode("latin-1") if accept is not None else None
            await self._refuse(scope, receive, send, shown, limit)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise PayloadTooLarge(_too_large(limit))
            return message

        await self.app(scope, limited_receive, send)

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, accept: str | None, limit: int
    ) -> None:
        response = error_response(PayloadTooLarge(_too_large(limit)), accept)
        response.headers["connection"] = "close"
        await response(scope, receive, send)


def _too_large(limit: int) -> str:
    return f"The request body is larger than this server accepts ({limit} bytes)."
