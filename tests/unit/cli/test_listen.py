"""Where a captured request is forwarded: the local URL plus the path and query it was sent to,
never above that URL, without credentials or hop-by-hop headers, and only when it is a POST."""

from __future__ import annotations

import pytest

from tabhooks.cli import forwarding
from tabhooks.cli.forwarding import NotForwarded
from tabhooks.cli.inbox import bin_id_of
from tabhooks.forwarded_headers import NOT_FORWARDED, forwardable


@pytest.mark.parametrize(
    ("base", "path", "query", "expected"),
    [
        ("http://localhost:5000/hook", "", "", "http://localhost:5000/hook"),
        ("http://localhost:5000/hook/", "", "", "http://localhost:5000/hook/"),
        ("http://localhost:5000/hook", "a/b", "", "http://localhost:5000/hook/a/b"),
        ("http://localhost:5000/hook", "/a/b/", "", "http://localhost:5000/hook/a/b/"),
        ("http://localhost:5000/hook", "", "x=1", "http://localhost:5000/hook?x=1"),
        ("http://localhost:5000/hook?k=v", "", "x=1", "http://localhost:5000/hook?k=v&x=1"),
        ("http://localhost:5000/hook?k=v", "/a", "x=1", "http://localhost:5000/hook/a?k=v&x=1"),
        ("http://localhost:5000", "/a", "", "http://localhost:5000/a"),
        # dot segments that stay below the forward URL are resolved
        ("http://localhost:5000/hook", "/a/../b/./c", "", "http://localhost:5000/hook/b/c"),
        # the bin stored the path decoded once: sent encoded again, as it arrived
        ("http://localhost:5000/hook", "/a b/%41", "", "http://localhost:5000/hook/a%20b/%2541"),
        ("http://localhost:5000/hook", "/x", "a=%20b#c", "http://localhost:5000/hook/x?a=%20b%23c"),
    ],
)
def test_target_is_the_forward_url_plus_the_path_below_the_bin(
    base: str, path: str, query: str, expected: str
) -> None:
    assert forwarding.target(base, {"path": path, "query": query}) == expected


@pytest.mark.parametrize(
    "path",
    [
        "/../../admin/users/1",
        "/..",
        "/a/../../admin",
        "/%2e%2e/admin",  # sent as %252e%252e: decoded once by the bin, once more by an app
        "/%2E%2e/%2e%2E/admin",
        "/%252e%252e/admin",
        "/..;/admin",
        "/%2e%2e;x/admin",
        "/.%2e/admin",
        "/..\\admin",
        "/a\\..\\..\\admin",
        "/%5c../admin",
        "/%2fetc/passwd",
        "/a%00b",
        "/a\x1b[2Jb",
        "/%25252e%25252e",
    ],
)
def test_a_path_that_could_leave_the_forward_url_is_refused(path: str) -> None:
    with pytest.raises(NotForwarded):
        forwarding.target("http://localhost:5000/app/hook", {"path": path, "query": ""})


def test_credentials_and_hop_by_hop_headers_are_dropped_signatures_kept() -> None:
    captured = [
        ("Authorization", "Bearer t"),
        ("cookie", "session=1"),
        ("X-Tableau-Auth", "token"),
        ("Proxy-Authorization", "Basic x"),
        ("connection", "keep-alive, X-Hop"),
        ("x-hop", "1"),
        ("host", "127.0.0.1:8000"),
        ("content-length", "2"),
        ("transfer-encoding", "chunked"),
        ("content-type", "application/json"),
        ("webhook-id", "msg_1"),
        ("webhook-timestamp", "1700000000"),
        ("webhook-signature", "v1,abc"),
    ]
    kept = forwarding.headers({"headers": captured})
    assert kept == [
        ("content-type", "application/json"),
        ("webhook-id", "msg_1"),
        ("webhook-timestamp", "1700000000"),
        ("webhook-signature", "v1,abc"),
    ]
    assert {"authorization", "cookie", "x-tableau-auth"} <= NOT_FORWARDED
    assert forwardable([]) == []


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", ""])
def test_only_posts_are_forwarded(method: str) -> None:
    with pytest.raises(NotForwarded):
        forwarding.check_method({"method": method})
    forwarding.check_method({"method": "POST"})


@pytest.mark.parametrize(
    "ref",
    ["bin_abc", "http://127.0.0.1:8000/inbox/bin_abc", "https://h/inbox/bin_abc/sub?x=1"],
)
def test_bin_id_of_accepts_an_id_or_a_capture_url(ref: str) -> None:
    assert bin_id_of(ref) == "bin_abc"
