"""The error layer's guards on a small FastAPI app: the last-resort 500, the JSON body guard and
the per-route body limit (the real server runs the same RequestGuard; see test_hostile_input.py)."""

from __future__ import annotations

import logging

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from tabhooks.api.errors import install_error_handlers
from tabhooks.api.guard import RequestGuard, is_upload_route

LIMIT = 200_000


class Named(BaseModel):
    name: str


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(
        RequestGuard, allowed_hosts=["test"], max_request_bytes=LIMIT, max_upload_bytes=4 * LIMIT
    )

    @app.get("/boom")
    async def boom() -> Response:
        raise RuntimeError("a bug\nspread over lines")

    @app.get("/deep")
    async def deep() -> Response:
        def recurse(n: int) -> int:
            return recurse(n + 1) + 1

        return Response(str(recurse(0)))

    @app.post("/tabhooks/v1/things")
    async def things(body: Named) -> dict[str, str]:
        return {"name": body.name}

    @app.post("/api/3.28/sites/{site}/workbooks")
    async def publish(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    @app.post("/api/3.28/auth/signin")
    async def signin(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    return app


@pytest.fixture
def client() -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=True)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


@pytest.mark.parametrize("path", ["/boom", "/deep"])
async def test_unexpected_error_is_500_envelope_and_one_log_line(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    caplog.set_level(logging.DEBUG)
    response = await client.get(path, headers={"Accept": "application/json"})
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "500000"
    assert "Traceback" not in response.text and "a bug" not in response.text
    records = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(records) == 1, [r.getMessage() for r in records]
    (record,) = records
    assert record.exc_info is None
    line = record.getMessage()
    assert "\n" not in line
    assert "action=request_failed" in line and f"path={path}" in line
    assert "test_errors.py:" in line  # where it was raised


@pytest.mark.parametrize(
    "body",
    [b'{"name": "\\ud800"}', b"[" * 100_000, b'{"name": ' + b"1" * 5000 + b"}"],
    ids=["lone-surrogate", "deep", "long-number"],
)
async def test_json_guard_refuses_hostile_bodies_on_tabhooks_routes(
    client: httpx.AsyncClient, body: bytes
) -> None:
    response = await client.post(
        "/tabhooks/v1/things", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "400000"


@pytest.mark.parametrize(
    ("method", "path", "body", "content_type"),
    [
        ("GET", "/tabhooks/v1/things/a%00b", b"", None),
        ("GET", "/api/3.28/sites/s/users?filter=name:eq:a%00b", b"", None),
        ("POST", "/ui/login", b"name=a%00b&password=x", "application/x-www-form-urlencoded"),
        ("POST", "/ui/webhooks", b"name=a%1bb&url=x", "application/x-www-form-urlencoded"),
        ("POST", "/inbox/bin_x/a%00b", b"", None),
    ],
)
async def test_guard_refuses_nul_in_urls_and_forms(
    client: httpx.AsyncClient, method: str, path: str, body: bytes, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = await client.request(method, path, content=body, headers=headers)
    assert response.status_code == 400
    assert "NUL" in response.text


async def test_guard_leaves_captured_query_strings_and_forms_alone(
    client: httpx.AsyncClient,
) -> None:
    """A bin stores its query string and body raw: %00 there is data, not a name."""
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    response = await client.post("/inbox/bin_x/hook?x=%00", content=b"a=%00", headers=form)
    assert response.status_code == 404  # no such route in this app: not refused by the guard


async def test_json_guard_hands_ordinary_bodies_on(client: httpx.AsyncClient) -> None:
    ok = await client.post("/tabhooks/v1/things", json={"name": "\U0001f600 \\ud800"})
    assert ok.status_code == 200 and ok.json() == {"name": "\U0001f600 \\ud800"}
    bad = await client.post("/tabhooks/v1/things", json={"nom": "x"})
    assert bad.status_code == 400  # FastAPI's own validation, rendered as before


async def test_upload_limit_belongs_to_upload_routes_not_to_multipart(
    client: httpx.AsyncClient,
) -> None:
    body = b"x" * (2 * LIMIT)
    multipart = {"Content-Type": "multipart/mixed; boundary=b"}
    published = await client.post("/api/3.28/sites/s/workbooks", content=body, headers=multipart)
    assert published.status_code == 200 and published.json() == {"size": 2 * LIMIT}
    signin = await client.post("/api/3.28/auth/signin", content=body, headers=multipart)
    assert signin.status_code == 413
    too_big = await client.post("/api/3.28/sites/s/workbooks", content=b"x" * (5 * LIMIT))
    assert too_big.status_code == 413


@pytest.mark.parametrize(
    ("method", "path", "upload"),
    [
        ("POST", "/api/3.28/sites/abc/workbooks", True),
        ("POST", "/api/3.4/sites/abc/datasources/", True),
        ("POST", "/api/3.28/sites/abc/flows", True),
        ("PUT", "/api/3.28/sites/abc/fileUploads/1:ab-2:3", True),
        ("PUT", "/api/3.28/sites/abc/workbooks/w1", False),
        ("POST", "/api/3.28/sites/abc/fileUploads", False),
        ("POST", "/api/3.28/auth/signin", False),
        ("POST", "/api/3.28/sites/abc/workbooks/w1/refresh", False),
        ("POST", "/tabhooks/v1/inbox/bins", False),
        ("POST", "/inbox/bin_x/api/3.28/sites/abc/workbooks", False),
    ],
)
def test_is_upload_route(method: str, path: str, upload: bool) -> None:
    assert is_upload_route(method, path) is upload
