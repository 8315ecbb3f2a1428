"""The API docs page in a real browser: Swagger UI from the installed package, no network."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from tabhooks.web.headers import CONTENT_SECURITY_POLICY
from tests.ui.conftest import PageWatch, expect

_LOCAL = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def test_api_docs_render_offline_with_the_pages_policy(watch: PageWatch) -> None:
    elsewhere: list[str] = []

    def local_only(route: Any) -> None:
        # As on a machine without internet: anything not on this server fails, and is noted.
        if urlsplit(route.request.url).hostname in _LOCAL:
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    watch.context.route("**/*", local_only)
    page = watch.page
    response = page.goto("/tabhooks/docs")
    assert response is not None and response.status == 200
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["x-frame-options"] == "DENY"
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("tabhooks")
    operation = page.locator("#operations-inbox-createBin")
    expect(operation).to_be_visible()
    operation.locator(".opblock-summary").click()
    expect(operation.locator(".opblock-body")).to_contain_text("response_headers")
    assert elsewhere == []
    # The watch fixture asserts afterwards that the page broke no Content-Security-Policy rule.
