"""How a bin answers: never-answer, forced failures, random failures, the chosen response."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from tabhooks.inbox.bins import Bin
from tabhooks.inbox.chaos import choose

NOW = datetime(2026, 1, 1, tzinfo=UTC)
BIN = Bin(
    id="bin_x",
    site_id="site",
    created_by=None,
    name="b",
    max_requests=500,
    max_age_s=3600,
    response_status=202,
    response_headers={"X-Env": "test"},
    response_body="accepted",
    response_delay_s=1.5,
    fail_remaining=0,
    fail_percent=0,
    fail_status=503,
    never_answer=False,
    signing_secret=None,
    created_at=NOW,
    updated_at=NOW,
)


def test_choose_without_chaos_gives_the_chosen_response() -> None:
    reply = choose(BIN, forced_remaining=None, roll=0.0)
    assert (reply.status, reply.body, reply.headers, reply.delay_s) == (
        202,
        b"accepted",
        {"X-Env": "test"},
        1.5,
    )
    assert reply.note is None


def test_choose_forced_failure_says_how_many_remain_and_keeps_the_delay() -> None:
    reply = choose(BIN, forced_remaining=1, roll=0.99)
    assert reply.status == 503 and reply.delay_s == 1.5
    assert json.loads(reply.body) == {"error": reply.note}
    assert reply.note is not None and "1 more to fail" in reply.note


@pytest.mark.parametrize(("roll", "fails"), [(0.0, True), (0.249, True), (0.25, False)])
def test_choose_percent_fails_that_share_of_rolls(roll: float, fails: bool) -> None:
    reply = choose(replace(BIN, fail_percent=25), forced_remaining=None, roll=roll)
    assert (reply.status == 503) is fails


def test_choose_never_answer_wins_over_everything() -> None:
    bin_ = replace(BIN, never_answer=True, fail_percent=100)
    reply = choose(bin_, forced_remaining=3, roll=0.0)
    assert reply.status is None and reply.note is not None


def test_choose_never_sends_a_stored_header_the_allow_list_refuses() -> None:
    # A bin saved before the allow-list existed: its headers are checked again on the way out.
    stored = {
        "Refresh": "0; url=https://evil.example/",
        "Clear-Site-Data": '"cookies"',
        "Set-Cookie": "tabhooks_session=x",
        "Location": "https://evil.example/",
        "Retry-After": "30",
    }
    bin_ = replace(BIN, response_status=302, response_headers=stored)
    reply = choose(bin_, forced_remaining=None, roll=0.0, origins={"http://127.0.0.1:8000"})
    assert reply.status == 302
    assert reply.headers == {"Retry-After": "30"}
    assert reply.note == (
        "refused header(s) not sent: Refresh, Clear-Site-Data, Set-Cookie, Location"
    )


def test_choose_redirects_only_to_this_server() -> None:
    here = "http://127.0.0.1:8000"
    for location in ("/inbox/bin_x/next", f"{here}/inbox/bin_x/next"):
        bin_ = replace(BIN, response_status=307, response_headers={"Location": location})
        reply = choose(bin_, forced_remaining=None, roll=0.0, origins={here})
        assert reply.headers == {"Location": location} and reply.note is None
