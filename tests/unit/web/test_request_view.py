"""The detail pane's derived parts: the capture URL, form fields and the "copy as curl" line."""

from __future__ import annotations

import shlex
from datetime import UTC, datetime

from tabhooks.inbox.inspection import Captured
from tabhooks.web.request_view import CURL_MAX_BODY_BYTES, as_curl, capture_url, form_fields

BASE = "http://127.0.0.1:8000"


def _captured(
    body: bytes = b"",
    headers: list[tuple[str, str]] | None = None,
    *,
    method: str = "POST",
    path: str = "",
    query: str = "",
    body_size: int | None = None,
) -> Captured:
    return Captured(
        id="req_1",
        bin_id="bin_1",
        method=method,
        path=path,
        query=query,
        headers=headers or [],
        body=body,
        body_size=len(body) if body_size is None else body_size,
        client_addr="127.0.0.1",
        webhook_msg_id=None,
        response_status=200,
        note=None,
        received_at=datetime(2024, 5, 1, tzinfo=UTC),
    )


def test_capture_url_has_the_path_and_query_below_the_bin() -> None:
    assert capture_url(BASE, _captured()) == f"{BASE}/inbox/bin_1"
    item = _captured(path="/a/b", query="x=1&y=2")
    assert capture_url(BASE, item) == f"{BASE}/inbox/bin_1/a/b?x=1&y=2"


def test_form_fields_only_for_a_complete_url_encoded_body() -> None:
    form = [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")]
    assert form_fields(_captured(b"a=1&b=two+words&c=", form)) == [
        ("a", "1"),
        ("b", "two words"),
        ("c", ""),
    ]
    assert form_fields(_captured(b"a=1", [("Content-Type", "text/plain")])) is None
    assert form_fields(_captured(b"a=1", form, body_size=10_000)) is None  # cut short


def test_curl_sends_the_same_request_and_quotes_every_argument() -> None:
    hostile = "'; rm -rf / #$(id)`id`"
    item = _captured(
        f'{{"x": "{hostile}"}}'.encode(),
        [
            ("Host", "127.0.0.1:8000"),
            ("Content-Length", "40"),
            ("Content-Type", "application/json"),
            ("X-Evil", hostile),
        ],
        path="/p",
        query="q=1",
    )
    command = as_curl(BASE, item)
    assert command is not None
    words = shlex.split(command.replace("\\\n", " "))
    assert words == [
        "curl",
        "-X",
        "POST",
        f"{BASE}/inbox/bin_1/p?q=1",
        "-H",
        "Content-Type: application/json",
        "-H",
        f"X-Evil: {hostile}",
        "--data-raw",
        f'{{"x": "{hostile}"}}',
    ]


def test_curl_without_a_body_sends_none() -> None:
    command = as_curl(BASE, _captured(method="GET"))
    assert command == f"curl -X GET {BASE}/inbox/bin_1"


def test_no_curl_for_requests_one_command_cannot_repeat() -> None:
    assert as_curl(BASE, _captured(b"\xff\xfe")) is None  # not UTF-8
    assert as_curl(BASE, _captured(b"a\0b")) is None  # NUL: no shell argument holds one
    assert as_curl(BASE, _captured(b"x", body_size=5000)) is None  # cut short on capture
    assert as_curl(BASE, _captured(b"x" * (CURL_MAX_BODY_BYTES + 1))) is None
    assert as_curl(BASE, _captured(method="GET x")) is None
