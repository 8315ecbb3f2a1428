"""The careful JSON decoder: what plain json.loads lets through is refused with a 400."""

from __future__ import annotations

import json

import pytest

from tabhooks import jsontext
from tabhooks.errors import BadRequest


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b'{"name": "\\ud800"}', "surrogate"),
        (b'{"name": "x\\uDC00y"}', "surrogate"),
        (b'{"\\ud83d": 1}', "surrogate"),  # in a key
        (b'{"a": ["\\udfff"]}', "surrogate"),
        (b'{"name": "a\\u0000b"}', "NUL"),
        (b'{"a\\u0000": 1}', "NUL"),
        (b'{"name": "bell\\u0007"}', "character \\x07"),
        (b'{"name": "\\uFFFE"}', "character \\ufffe"),
        ('{"name": "raw \uffff"}'.encode(), "character \\uffff"),
        (b"[" * 100_000, "nested too deeply"),
        (b'{"a":' * 65 + b"1" + b"}" * 65, "nested too deeply"),
        (b'{"n": ' + b"1" * 5000 + b"}", "longer than 64"),
        (b'{"n": 1' + b"0" * 64 + b"}", "longer than 64"),
        (b'{"n": 1e400}', "too large"),
        (b'{"n": NaN}', "NaN"),
        (b'{"n": -Infinity}', "-Infinity"),
        (b'{"n": ', "malformed"),
        (b'"\xff"', "UTF-8"),
    ],
)
def test_loads_hostile_body_is_bad_request(raw: bytes, says: str) -> None:
    with pytest.raises(BadRequest) as caught:
        jsontext.loads(raw)
    assert says in caught.value.detail


def test_loads_accepts_what_clients_send() -> None:
    body = {
        "emoji": "\U0001f600",  # escaped as a surrogate pair by json.dumps: a whole character
        "text": "报表 \\ud800 as typed",  # a backslash-u in the text itself, not an escape
        "layout": "tab\there,\r\nnext line",  # the controls XML carries
        "n": 12345678901234567890,
        "f": -1.5e300,
        "deep": json.loads('{"a":' * 63 + "1" + "}" * 63),
    }
    raw = json.dumps(body).encode()
    assert jsontext.loads(raw) == body
    assert jsontext.loads(b"\xef\xbb\xbf" + raw) == body  # a byte-order mark is fine


@pytest.mark.parametrize(
    "raw",
    [b'{"a": "\\ud800"}', b'{"a": "\\u0000"}', b"[" * 65, b'{"n": ' + b"9" * 65 + b"}"],
)
def test_looks_hostile_flags_every_refusable_body(raw: bytes) -> None:
    assert jsontext.looks_hostile(raw)


def test_looks_hostile_passes_ordinary_bodies() -> None:
    assert not jsontext.looks_hostile(b'{"name": "bin", "events": ["a", "b"], "n": 123}')
