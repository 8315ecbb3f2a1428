"""Where a captured request is forwarded: the local URL plus the path and query it was sent to."""

from __future__ import annotations

import pytest

from tabhooks.cli.inbox import bin_id_of
from tabhooks.cli.listen import forward_url


@pytest.mark.parametrize(
    ("base", "path", "query", "expected"),
    [
        ("http://localhost:5000/hook", "", "", "http://localhost:5000/hook"),
        ("http://localhost:5000/hook/", "", "", "http://localhost:5000/hook/"),
        ("http://localhost:5000/hook", "a/b", "", "http://localhost:5000/hook/a/b"),
        ("http://localhost:5000/hook", "", "x=1", "http://localhost:5000/hook?x=1"),
        ("http://localhost:5000/hook?k=v", "", "x=1", "http://localhost:5000/hook?k=v&x=1"),
    ],
)
def test_forward_url(base: str, path: str, query: str, expected: str) -> None:
    assert forward_url(base, {"path": path, "query": query}) == expected


@pytest.mark.parametrize(
    "ref",
    ["bin_abc", "http://127.0.0.1:8000/inbox/bin_abc", "https://h/inbox/bin_abc/sub?x=1"],
)
def test_bin_id_of_accepts_an_id_or_a_capture_url(ref: str) -> None:
    assert bin_id_of(ref) == "bin_abc"
