"""The allow-list of headers a bin may answer with, and where its redirects may point."""

from __future__ import annotations

import pytest

from tabhooks.inbox.answer_headers import MAX_HEADERS, allowed, problems, refusal

ORIGINS = frozenset({"http://127.0.0.1:8000", "https://hooks.example.com"})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Content-Type", "application/json"),
        ("content-type", "text/html"),
        ("Retry-After", "120"),
        ("Cache-Control", "max-age=60"),
        ("ETag", '"v1"'),
        ("Last-Modified", "Wed, 21 Oct 2026 07:28:00 GMT"),
        ("Vary", "Accept"),
        ("Allow", "POST"),
        ("RateLimit-Remaining", "0"),
        ("X-Env", "test"),
        ("X-Request-Id", "abc"),
        ("Location", "/inbox/bin_x/next"),
        ("Location", "next?page=2"),
        ("Location", "?page=2"),
        ("Location", "http://127.0.0.1:8000/inbox/bin_x"),
        ("Location", "https://hooks.example.com/ui/bins/bin_x"),
        ("Location", "HTTPS://HOOKS.example.com:443/x"),
    ],
)
def test_refusal_harmless_header_is_allowed(name: str, value: str) -> None:
    assert refusal(name, value, ORIGINS) is None


@pytest.mark.parametrize(
    "name",
    [
        "Refresh",
        "Clear-Site-Data",
        "Set-Cookie",
        "set-cookie2",
        "Link",
        "WWW-Authenticate",
        "Access-Control-Allow-Origin",
        "Content-Security-Policy",
        "Content-Disposition",
        "Content-Length",
        "Transfer-Encoding",
        "Connection",
        "Strict-Transport-Security",
        "Permissions-Policy",
        "Service-Worker-Allowed",
        "X-Frame-Options",
        "X-Content-Type-Options",
        "X-XSS-Protection",
        "X-Accel-Redirect",
        "X-Sendfile",
        "X-Forwarded-Host",
        "X-Tabhooks-Request-Id",
    ],
)
def test_refusal_header_a_browser_or_proxy_acts_on_is_refused_by_name(name: str) -> None:
    reason = refusal(name, "x", ORIGINS)
    assert reason is not None and f"'{name}'" in reason


@pytest.mark.parametrize(
    "location",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        " //evil.example/",
        "/\t/evil.example/",
        "https:evil.example",
        "javascript:alert(1)",
        "http://127.0.0.1:8001/",  # another port is another origin
        "https://127.0.0.1:8000/",  # another scheme too
        "http://127.0.0.1:8000@evil.example/",
        "http://[::1",
        "",
    ],
)
def test_refusal_location_elsewhere_is_refused(location: str) -> None:
    reason = refusal("Location", location, ORIGINS)
    assert reason is not None and "Location" in reason


def test_refusal_absolute_location_needs_a_known_origin() -> None:
    assert refusal("Location", "http://127.0.0.1:8000/x", ()) is not None
    assert refusal("Location", "/x", ()) is None


@pytest.mark.parametrize(
    ("name", "value"), [("Bad Name", "v"), ("X-Ok", "a\r\nSet-Cookie: x=1"), ("X-Ok", "v" * 1025)]
)
def test_refusal_malformed_name_or_value_is_refused(name: str, value: str) -> None:
    assert refusal(name, value, ORIGINS) is not None


def test_problems_names_every_refused_header_and_the_count_limit() -> None:
    found = problems({"Refresh": "0; url=/", "X-Ok": "1", "Set-Cookie": "a=b"}, ORIGINS)
    assert len(found) == 2 and "'Refresh'" in found[0] and "'Set-Cookie'" in found[1]
    many = {f"X-H{i}": "v" for i in range(MAX_HEADERS + 1)}
    assert problems(many, ORIGINS) == [f"At most {MAX_HEADERS} headers."]


def test_allowed_keeps_the_harmless_and_names_the_rest() -> None:
    kept, dropped = allowed(
        {"Retry-After": "5", "Refresh": "0; url=https://evil.example/", "Location": "/next"},
        ORIGINS,
    )
    assert kept == {"Retry-After": "5", "Location": "/next"}
    assert dropped == ["Refresh"]
