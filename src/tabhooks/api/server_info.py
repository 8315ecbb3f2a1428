"""``/api/{v}/serverInfo`` (and ``serverinfo``): unauthenticated version discovery.

TSC asks at 2.4 and switches to the advertised ``restApiVersion``; JSON clients ask with the
lower-case spelling and refuse to work if the version is below the one they are configured for.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from tabhooks import __version__
from tabhooks.api.deps import require_version
from tabhooks.api.wire import respond
from tabhooks.config import PRODUCT_VERSION, REST_API_VERSION
from tabhooks.tsxml import element

router = APIRouter(prefix="/api/{api_version}", dependencies=[Depends(require_version())])


@router.get("/serverInfo", operation_id="serverInfo")
@router.get("/serverinfo", include_in_schema=False)
async def server_info(request: Request) -> Response:
    return respond(
        request,
        element(
            "serverInfo",
            element("productVersion", text=PRODUCT_VERSION, build=f"tabhooks-{__version__}"),
            element("restApiVersion", text=REST_API_VERSION),
        ),
    )
