"""``/tabhooks/docs``: Swagger UI for ``/tabhooks/openapi.json``, served from installed files.

FastAPI's built-in page loads an unpinned Swagger UI script from a CDN: a page that breaks
offline (the machines tabhooks runs on may have no internet) and runs whatever that CDN serves
today with the rights of tabhooks' origin. Here the script and stylesheet come from the
``fastapi-offline`` package, a pinned copy of Swagger UI 5 (the first major version that reads
the OpenAPI 3.1 documents FastAPI writes), mounted at :data:`ASSETS_PREFIX`. The page starts
Swagger UI from our own ``apidocs.js`` rather than an inline script, so it carries the same
Content-Security-Policy as every other page (:mod:`tabhooks.web.headers`).
"""

from __future__ import annotations

from importlib import metadata

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.staticfiles import StaticFiles

from tabhooks.web.templating import pages_of

DOCS_PATH = "/tabhooks/docs"
ASSETS_PREFIX = "/tabhooks/docs/assets"
#: The package whose ``static/`` folder holds ``swagger-ui-bundle.js`` and ``swagger-ui.css``.
ASSETS_PACKAGE = "fastapi_offline"


async def docs_page(request: Request) -> Response:
    openapi_url = request.app.openapi_url or ""
    version = metadata.version(ASSETS_PACKAGE.replace("_", "-"))
    return pages_of(request).page(
        request,
        "apidocs.html",
        title=request.app.title,
        openapi_url=openapi_url,
        assets=ASSETS_PREFIX,
        assets_version=version,
    )


def install(app: FastAPI) -> None:
    """Serve the docs page and the Swagger UI files it loads."""
    app.add_api_route(DOCS_PATH, docs_page, methods=["GET"], include_in_schema=False)
    app.mount(
        ASSETS_PREFIX,
        StaticFiles(packages=[(ASSETS_PACKAGE, "static")]),
        name="apidocs-assets",
    )
