"""Judging signatures on arrival, recognising Tableau payloads, flagging duplicates."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from tabhooks.delivery import signing
from tabhooks.inbox.inspection import Signature, annotate, judge
from tabhooks.inbox.tableau import recognise

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ARRIVED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _row(request_id: str, body: bytes, headers: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "id": request_id,
        "bin_id": "bin_x",
        "method": "POST",
        "path": "",
        "query": "",
        "headers": json.dumps(list(headers.items())),
        "body": body,
        "body_size": extra.pop("body_size", len(body)),
        "client_addr": "127.0.0.1",
        "webhook_msg_id": headers.get("webhook-id"),
        "response_status": 200,
        "note": None,
        "received_at": extra.pop("received_at", ARRIVED),
    }


def _signed(body: bytes, at: datetime, secret: str = SECRET) -> dict[str, str]:
    return signing.webhook_headers([secret], "msg_1", int(at.timestamp()), body)


def test_judge_uses_arrival_time_not_the_viewers_clock() -> None:
    body = b'{"a": 1}'
    (item,) = annotate([_row("req_1", body, _signed(body, ARRIVED))], secret=SECRET, seen={})
    assert item.signature is Signature.VALID  # though ARRIVED is long past


def test_judge_tells_stale_forged_and_unsigned_apart() -> None:
    body = b"{}"
    old = _signed(body, ARRIVED - timedelta(minutes=10))
    forged = _signed(body, ARRIVED, secret="whsec_" + "A" * 43 + "=")
    rows = [_row("a", body, old), _row("b", body, forged), _row("c", body, {})]
    verdicts = [i.signature for i in annotate(rows, secret=SECRET, seen={})]
    assert verdicts == [Signature.STALE, Signature.INVALID, Signature.UNSIGNED]
    assert annotate(rows, secret=None, seen={})[0].signature is None


def test_judge_a_tampered_body_is_invalid() -> None:
    headers = _signed(b'{"amount": 1}', ARRIVED)
    (item,) = annotate([_row("a", b'{"amount": 9}', headers)], secret=None, seen={})
    assert judge(SECRET, item) is Signature.INVALID


def test_annotate_numbers_requests_sharing_a_webhook_id() -> None:
    rows = [_row(i, b"{}", {"webhook-id": "msg_1"}) for i in ("r2", "r1")]
    seen = {"msg_1": ["r1", "r2"]}
    newest, oldest = annotate(rows, secret=None, seen=seen)
    assert (newest.occurrence, newest.occurrences, newest.duplicate) == (2, 2, True)
    assert (oldest.occurrence, oldest.duplicate) == (1, True)


def test_truncated_bodies_are_neither_pretty_printed_nor_recognised() -> None:
    body = b'{"event_type": "WorkbookCreated", "resource": "WORKBOOK", "resource_luid": "x"}'
    (item,) = annotate([_row("a", body, {}, body_size=10_000)], secret=None, seen={})
    assert item.truncated and item.body_json is None and item.tableau is None


def test_recognise_a_tableau_payload_and_its_rest_path() -> None:
    payload = {
        "resource": "VIEW",
        "event_type": "ViewDeleted",
        "resource_name": "Overview",
        "site_luid": "s-1",
        "resource_luid": "v-1",
        "created_at": "2026-03-01T12:00:00Z",
    }
    event = recognise(json.dumps(payload).encode())
    assert event is not None and event.summary
    assert event.rest_path == "/api/3.28/sites/s-1/views/v-1"
    site = recognise(
        json.dumps({**payload, "resource": "SITE", "event_type": "SiteCreated"}).encode()
    )
    assert site is not None and site.rest_path == "/api/3.28/sites/v-1"
    future = recognise(json.dumps({**payload, "event_type": "SomethingNew"}).encode())
    assert future is not None and future.summary is None


def test_recognise_ignores_what_is_not_a_tableau_payload() -> None:
    for body in (b"", b"[1]", b"{not json", b'{"event_type": "ViewDeleted"}', b'"x"'):
        assert recognise(body) is None
