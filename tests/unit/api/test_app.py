"""The app factory's route order is free to favour hot routes: no two paths overlap."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.middleware.base import BaseHTTPMiddleware
from starlette.routing import compile_path

from tabhooks.api.app import create_app
from tabhooks.api.guard import RequestGuard
from tabhooks.config import Settings
from tabhooks.store import open_store


def _example(path: str) -> str:
    """A concrete path the template matches: every parameter filled with ``x``."""
    return re.sub(r"\{[^}]+\}", "x", path)


def test_webhook_routes_overlap_no_other_route(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    app = create_app(Settings(database_url=url), open_store(url))
    paths = set(app.openapi()["paths"])
    paths |= {route.path for route in app.routes if isinstance(getattr(route, "path", None), str)}
    hooks = {p for p in paths if p.startswith("/api/{api_version}/sites/{site_id}/webhooks")}
    assert len(hooks) == 3  # the list, one webhook, and its test
    for hook in hooks:
        hook_regex = compile_path(hook)[0]
        for other in paths - hooks:
            other_regex = compile_path(other)[0]
            assert not other_regex.match(_example(hook)), (hook, other)
            assert not hook_regex.match(_example(other)), (hook, other)


def test_the_request_guard_is_the_only_middleware_of_our_own(tmp_path: Path) -> None:
    """Every middleware is a layer each request and response message goes through (and a
    BaseHTTPMiddleware a task per request): host, body limits, input checks, the last-resort
    500 and the security headers are one pass (see docs/performance.md)."""
    url = f"sqlite:///{tmp_path / 'app.db'}"
    for roles in ("all", "relay"):
        app = create_app(Settings(database_url=url, roles=roles), open_store(url))
        assert [m.cls for m in app.user_middleware] == [RequestGuard], roles
        assert not any(issubclass(m.cls, BaseHTTPMiddleware) for m in app.user_middleware)  # type: ignore[arg-type]
