"""The web UI: the first page (``/``), the dashboard (``/ui``: webhooks, the delivery log,
relay routes, content pages), the inspector's pages (``/ui/bins``), the project docs
(``/ui/docs``), the API docs page (``/tabhooks/docs``) and their assets.

:func:`install` is the one call the app factory makes: it adds the routers, serves
``/ui/static`` from the package (nothing from a CDN: the machines may have no internet),
renders errors on ``/ui`` pages as HTML pages instead of Tableau's XML envelope. (The security
headers every HTML response carries, :mod:`tabhooks.web.headers`, are added by the app's
request guard, :mod:`tabhooks.api.guard`.)
"""

from __future__ import annotations

import inspect
from urllib.parse import quote

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from tabhooks.errors import TableauError
from tabhooks.web import (
    apidocs,
    bins,
    content,
    dashboard,
    deliveries,
    home,
    projectdocs,
    relays,
    schedules,
    webhook_forms,
)
from tabhooks.web.session import CsrfRefused, SignInRequired
from tabhooks.web.templating import STATIC_DIR, STATIC_PREFIX, Pages

_UI_PREFIX = "/ui/"


def _ui_page(request: Request) -> bool:
    path = request.url.path
    return (path == "/ui" or path.startswith(_UI_PREFIX)) and not path.startswith(STATIC_PREFIX)


def _error_page(request: Request, status: int, title: str, message: str) -> Response:
    pages: Pages = request.app.state.pages
    return pages.page(request, "error.html", status=status, title=title, message=message)


def _wrap(app: FastAPI, exc_class: type[Exception]) -> None:
    """Render ``exc_class`` as an HTML page on ``/ui``; elsewhere keep the existing handler."""
    original = app.exception_handlers[exc_class]

    async def handler(request: Request, exc: Exception) -> Response:
        if not _ui_page(request):
            answer = original(request, exc)
            return await answer if inspect.isawaitable(answer) else answer
        if isinstance(exc, TableauError):
            return _error_page(request, exc.status, exc.summary, exc.detail)
        if isinstance(exc, StarletteHTTPException):
            title = "Not found" if exc.status_code == 404 else f"Error {exc.status_code}"
            message = "There is no such page." if exc.status_code == 404 else str(exc.detail)
            return _error_page(request, exc.status_code, title, message)
        return _error_page(request, 400, "Bad request", "The request was not understood.")

    app.add_exception_handler(exc_class, handler)


async def _on_sign_in_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    return RedirectResponse(f"/ui/login?next={quote(exc.next_path)}", status_code=303)


async def _on_csrf_refused(request: Request, exc: Exception) -> Response:
    return _error_page(
        request,
        403,
        "Form refused",
        "This form did not carry a valid security token (CSRF protection), so nothing was "
        "changed. It may have come from another site, or your session changed since the page "
        "loaded: reload the page and try again.",
    )


def install(app: FastAPI) -> None:
    """Add the UI to ``app`` (after the error handlers are installed)."""
    app.state.pages = Pages()
    app.include_router(home.router)
    # Before the dashboard's: /ui/webhooks/new is not a webhook id.
    app.include_router(webhook_forms.router)
    for module in (dashboard, deliveries, relays, content, schedules, projectdocs, bins):
        app.include_router(module.router)
    app.mount(STATIC_PREFIX, StaticFiles(directory=STATIC_DIR), name="ui-static")
    apidocs.install(app)
    for exc_class in (TableauError, StarletteHTTPException, RequestValidationError):
        _wrap(app, exc_class)
    app.add_exception_handler(SignInRequired, _on_sign_in_required)
    app.add_exception_handler(CsrfRefused, _on_csrf_refused)
