"""Rendering every failure as Tableau's error envelope.

Whatever a client sends, it gets ``<error code summary detail>`` with the matching status:
routing misses become 404003, wrong methods 405000, parameter validation 400000, oversized
bodies 413, and anything unexpected is answered 500000 and logged as one line (a 500 is
still a bug: the line says where it was raised). Starlette's own last-resort handler logs
the traceback and re-raises it to the server, which logs it again; a RecursionError made
that thousands of lines per request, so the app's request guard answers first
(:mod:`tabhooks.api.guard`, which also caps request bodies and refuses hostile input).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from tabhooks import tsxml
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
    log_failure(request.method, request.url.path, exc)
    return error_response(InternalError(), _accept(request))


def install_error_handlers(app: FastAPI) -> None:
    """Render every error a route raises as Tableau's envelope.

    What escapes the routes (and what is refused before them) is answered by
    :class:`tabhooks.api.guard.RequestGuard`, which the app factory adds.
    """
    app.add_exception_handler(TableauError, _on_tableau_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(Exception, _on_unexpected)


def log_failure(method: str, path: str, exc: BaseException) -> None:
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
