"""The response headers kept with each attempt are the JSON ``json.dumps`` would write."""

from __future__ import annotations

import json

import pytest

from tabhooks.store.deliveries import _headers_json

CASES = [
    {},
    {"content-type": "text/plain; charset=utf-8", "content-length": "0"},
    {"x-quote": 'say "hi" \\ back', "x-control": "tab\there\nnewline\x01"},
    {"x-latin1": "caf\u00e9 \u00fc", "set-cookie": "a=1, b=2"},
]


@pytest.mark.parametrize("headers", CASES)
def test_headers_json_is_json_dumps(headers: dict[str, str]) -> None:
    text = _headers_json(headers)
    assert text == json.dumps(headers, ensure_ascii=False)
    assert json.loads(text) == headers
