"""Test Webhook: one real POST to the destination, through the delivery engine's sender.

Tableau "sends an empty payload to the configured destination URL of the webhook and returns
the response from the server". tabhooks sends ``{}`` — deliberately not an event payload, so
automation keyed on ``event_type`` never acts on a test — with the same headers, guard,
timeouts and response cap as a real delivery (so redirects are not followed either: a 3xx
is the destination's answer). The answer is the destination's status and body.

When no HTTP response arrives there is no destination status to report, so tabhooks reports
the status a gateway would and says why in the body (documented in docs/webhooks.md):
502 for refused, reset, DNS, TLS and protocol failures, 504 for timeouts, 403 when the SSRF
guard blocked the destination.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from tabhooks.delivery.retry import AttemptOutcome, ErrorClass
from tabhooks.delivery.sender import Sender
from tabhooks.delivery.signing import attempt_headers
from tabhooks.models import Webhook
from tabhooks.store import Store
from tabhooks.store import secrets as secrets_store

TEST_BODY = b"{}"
_STATUS_FOR_ERROR = {ErrorClass.TIMEOUT: 504, ErrorClass.BLOCKED: 403}


@dataclass(frozen=True, slots=True)
class TestResult:
    """What Test Webhook reports: Tableau's ``webhookTestResult``."""

    webhook_id: str
    status: int
    body: str


def _describe(outcome: AttemptOutcome) -> tuple[int, str]:
    if outcome.status is not None:
        return outcome.status, outcome.response_body.decode("utf-8", errors="replace")
    assert outcome.error is not None
    status = _STATUS_FOR_ERROR.get(outcome.error, 502)
    return status, f"tabhooks could not deliver the test: {outcome.error} ({outcome.detail})"


async def run(store: Store, sender: Sender, webhook: Webhook) -> TestResult:
    """POST the test body, signed with the webhook's live secrets like a real delivery."""
    async with store.read() as conn:
        secrets = tuple(str(row["secret"]) for row in await secrets_store.live(conn, webhook.id))
    headers = attempt_headers(f"test_{uuid.uuid4().hex}", TEST_BODY, secrets)
    outcome = await sender.send(webhook.url, TEST_BODY, headers)
    status, body = _describe(outcome)
    return TestResult(webhook.id, status, body)
