"""``/api/{v}/sites/{site_id}/fileUploads``: chunked uploads for files over 64 MB.

Sessions expire, and each user may hold only so many and so many bytes: see
:class:`tabhooks.services.publish.PublishLimits`.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from tabhooks.api.content import publish_limits
from tabhooks.api.deps import SiteCallerDep, StoreDep, require_version
from tabhooks.api.multipart import read_parts
from tabhooks.api.wire import respond
from tabhooks.errors import BadRequest
from tabhooks.services import publish
from tabhooks.tsxml import element

router = APIRouter(
    prefix="/api/{api_version}/sites/{site_id}/fileUploads",
    dependencies=[Depends(require_version())],
)


@router.post("", status_code=201, operation_id="initiateFileUpload")
async def start(request: Request, store: StoreDep, caller: SiteCallerDep) -> Response:
    upload_id = await publish.start_upload(store, caller, publish_limits(request))
    return respond(
        request, element("fileUpload", uploadSessionId=upload_id, fileSize=0), status=201
    )


@router.put("/{upload_id}", operation_id="appendToFileUpload")
async def append(
    request: Request, upload_id: str, store: StoreDep, caller: SiteCallerDep
) -> Response:
    parts = await read_parts(request)
    chunk = parts.get("tableau_file")
    if chunk is None:
        raise BadRequest("The multipart body needs a 'tableau_file' part with the next chunk.")
    size = await publish.append_upload(
        store, caller, upload_id, bytes(chunk.data), publish_limits(request)
    )
    # Tableau reports the size in megabytes.
    return respond(
        request, element("fileUpload", uploadSessionId=upload_id, fileSize=size // (1024 * 1024))
    )
