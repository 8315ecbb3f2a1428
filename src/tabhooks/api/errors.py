"""Rendering every failure as Tableau's error envelope, and capping request bodies.

Whatever a client sends, it gets ``<error code summary detail>`` with the matching status:
routing misses become 404003, wrong methods 405000, parameter validation 400000, oversized
bodies 413, and anything unexpected is logged with its traceback and answered 500000.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tabhooks import tsxml
from tabhooks.errors import (
    BadRequest,
    InternalError,
    MethodNotAllowed,
    PayloadTooLarge,
    ResourceNotFound,
    TableauError,
)

log = logging.getLogger(__name__)


def error_response(error: TableauError, accept: str | None) -> Response:
    dialect = tsxml.choose_dialect(accept)
    body = tsxml.render(
        [
            tsxml.element(
                "error",
                tsxml.element("summary", text=error.summary),
                tsxml.element("detail", text=error.detail),
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
    return error_response(exc, _accept(request))


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
    log.exception("action=request_failed method=%s path=%s", request.method, request.url.path)
    return error_response(InternalError(), _accept(request))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(TableauError, _on_tableau_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(Exception, _on_unexpected)


class BodyLimitMiddleware:
    """Refuse bodies over the limit before reading them, and stop streams that grow past it.

    Multipart bodies (workbook and data source uploads) get the upload limit; everything else
    the much smaller request limit.
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
        content_type = declared = chunked = accept = None
        for key, value in scope["headers"]:
            name = key.lower()
            if name == b"content-type":
                content_type = value
            elif name == b"content-length":
                declared = value
            elif name == b"transfer-encoding":
                chunked = value
            elif name == b"accept":
                accept = value
        if declared is None and chunked is None:  # no body (RFC 9112 §6.3): nothing to cap
            await self.app(scope, receive, send)
            return
        multipart = content_type is not None and content_type.lower().startswith(b"multipart/")
        limit = self.max_upload_bytes if multipart else self.max_request_bytes
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
