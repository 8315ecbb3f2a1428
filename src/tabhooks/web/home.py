"""``/``: what this server is, and where to go from here.

Clients of the REST API (TSC, tabcmd, Postman) never ask for ``/``; a person does, having
started ``tabhooks serve`` and opened the address it printed. So the page answers them: the
dashboard, the inspector, the API docs, the project docs, and the base URL to give a client —
built like every URL the server hands out (:func:`tabhooks.api.wire.base_url`:
``TABHOOKS_PUBLIC_URL``, else the request's own address, whose ``Host`` was already checked
against the allowed names).
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tabhooks.api.wire import base_url
from tabhooks.config import REST_API_VERSION
from tabhooks.web import projectdocs
from tabhooks.web.templating import pages_of

router = APIRouter(include_in_schema=False)


@router.get("/")
async def home(request: Request) -> Response:
    base = base_url(request)
    return pages_of(request).page(
        request,
        "home.html",
        base=base,
        api_version=REST_API_VERSION,
        docs=projectdocs.pages(),
        docs_available=projectdocs.available(),
    )
