"""The ceiling for ``bench/api.py``: a bare FastAPI route on tabhooks' uvicorn settings.

It answers ``GET /api/{api_version}/sites/{site_id}/webhooks/{webhook_id}`` with a fixed XML
body shaped and sized like tabhooks' Get Webhook response, with the same content type, and
nothing else: no database, no authentication, no rendering. Whatever tabhooks does per request
on top of this is what ``bench/api.py`` measures.

The socket and :class:`uvicorn.Config` mirror ``tabhooks.cli.serve`` (one process, one worker,
``log_level="warning"``, access log off, default loop and HTTP implementations, which are
uvloop and httptools when installed); keep them in step if serve.py changes.

Run: ``python bench/_ceiling.py [PORT]``; prints ``tabhooks listening on http://HOST:PORT``.
"""

from __future__ import annotations

import socket
import sys

import uvicorn
from fastapi import FastAPI
from starlette.responses import Response

HOST = "127.0.0.1"
CONTENT_TYPE = "application/xml;charset=utf-8"

#: What tabhooks renders for one webhook (same namespaces, attributes and nesting).
BODY = (
    b"<?xml version='1.0' encoding='UTF-8'?>"
    b'<tsResponse xmlns="http://tableau.com/api" '
    b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    b'xsi:schemaLocation="http://tableau.com/api '
    b'https://help.tableau.com/samples/en-us/rest_api/ts-api_3_28.xsd">'
    b'<webhook id="7d3e1b52-9a0c-4f7e-8c61-2b5f0e4d9a13" name="bench-0000042" '
    b'event="WorkbookCreated" isEnabled="true" statusChangeReason="" '
    b'createdAt="2026-01-01T00:00:00Z" updatedAt="2026-01-01T00:00:00Z">'
    b"<webhook-source><webhook-source-event-workbook-created /></webhook-source>"
    b"<webhook-destination>"
    b'<webhook-destination-http method="POST" url="https://hooks.example.com/bench/0000042" />'
    b"</webhook-destination>"
    b'<owner id="0b6c2f4e-1d8a-4c3b-9e75-6a2d8f1c0e47" name="admin" />'
    b"</webhook></tsResponse>"
)


def create_app() -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/api/{api_version}/sites/{site_id}/webhooks/{webhook_id}")
    async def get_webhook(api_version: str, site_id: str, webhook_id: str) -> Response:
        return Response(BODY, media_type=CONTENT_TYPE)

    return app


def _bind(port: int) -> socket.socket:
    """As ``tabhooks.cli.serve._bind`` does for an IPv4 host."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def main() -> None:
    sock = _bind(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    config = uvicorn.Config(
        create_app(),
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
        server_header=False,
    )
    print(f"tabhooks listening on http://{HOST}:{sock.getsockname()[1]}", flush=True)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
