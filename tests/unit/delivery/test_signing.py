"""Standard Webhooks signing, checked against the reference ``standardwebhooks`` library."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tabhooks.delivery.signing import (
    ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    decode_secret,
    generate_secret,
    sign,
    signature_header,
    verify,
    webhook_headers,
)

#: The example from the Standard Webhooks specification's test vectors.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

BODY = '{"resource":"WORKBOOK","event_type":"WorkbookCreated","resource_name":"Sales ✓"}'.encode()


def test_generate_secret_prefixed_base64_of_32_bytes() -> None:
    secret = generate_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32


def test_generate_secret_unique() -> None:
    assert len({generate_secret() for _ in range(100)}) == 100


def test_decode_secret_prefix_optional_and_padding_tolerated() -> None:
    raw = b"0123456789abcdefghijklmn"
    encoded = base64.b64encode(raw).decode()
    assert decode_secret("whsec_" + encoded) == raw
    assert decode_secret(encoded) == raw
    assert decode_secret("whsec_" + base64.b64encode(b"abcd").decode().rstrip("=")) == b"abcd"


@pytest.mark.parametrize("secret", ["whsec_", "", "whsec_not base64!", "whsec_@@@@"])
def test_decode_secret_invalid_raises(secret: str) -> None:
    with pytest.raises(ValueError):
        decode_secret(secret)


def test_sign_matches_spec_vector() -> None:
    assert sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def test_sign_matches_reference_library() -> None:
    secret = generate_secret()
    moment = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    expected = Webhook(secret).sign("evt_123", moment, BODY.decode())
    assert sign(secret, "evt_123", int(moment.timestamp()), BODY) == expected


def test_sign_msg_id_with_full_stop_raises() -> None:
    with pytest.raises(ValueError, match="must not contain"):
        sign(generate_secret(), "evt.1", 1, BODY)


def test_signature_header_one_signature_per_secret() -> None:
    old, new = generate_secret(), generate_secret()
    header = signature_header([new, old], "evt_1", 1700000000, BODY)
    assert header.split(" ") == [
        sign(new, "evt_1", 1700000000, BODY),
        sign(old, "evt_1", 1700000000, BODY),
    ]


def test_signature_header_without_secret_raises() -> None:
    with pytest.raises(ValueError):
        signature_header([], "evt_1", 1, BODY)


def test_webhook_headers_verified_by_reference_library() -> None:
    secret = generate_secret()
    headers = webhook_headers([secret], "evt_abc", int(time.time()), BODY)
    assert set(headers) == {ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER}
    assert Webhook(secret).verify(BODY, headers)["event_type"] == "WorkbookCreated"


def test_webhook_headers_rotation_each_secret_verifies_alone() -> None:
    old, new, stranger = generate_secret(), generate_secret(), generate_secret()
    headers = webhook_headers([new, old], "evt_rot", int(time.time()), BODY)
    Webhook(old).verify(BODY, headers)
    Webhook(new).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(stranger).verify(BODY, headers)


def test_webhook_headers_tampered_body_rejected_by_reference_library() -> None:
    secret = generate_secret()
    headers = webhook_headers([secret], "evt_t", int(time.time()), BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace(b"Sales", b"Costs"), headers)


def reference_headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Headers as a Standard Webhooks sender built on the reference library would send them."""
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": Webhook(secret).sign(msg_id, moment, body.decode()),
    }


def test_verify_accepts_reference_library_signature() -> None:
    secret = generate_secret()
    now = int(time.time())
    assert verify(secret, reference_headers(secret, "evt_ref", now, BODY), BODY)


def test_verify_header_names_case_insensitive() -> None:
    secret = generate_secret()
    headers = {k.upper(): v for k, v in webhook_headers([secret], "e1", 1000, BODY).items()}
    assert verify(secret, headers, BODY, now=1000)


def test_verify_any_matching_signature_accepted() -> None:
    secret = generate_secret()
    headers = webhook_headers([generate_secret(), secret], "e1", 1000, BODY)
    headers[SIGNATURE_HEADER] = "v1a,c29tZXRoaW5n " + headers[SIGNATURE_HEADER]
    assert verify(secret, headers, BODY, now=1000)


@pytest.mark.parametrize("offset_s", [-300, 0, 300])
def test_verify_timestamp_within_tolerance_accepted(offset_s: int) -> None:
    secret = generate_secret()
    headers = webhook_headers([secret], "e1", 1000, BODY)
    assert verify(secret, headers, BODY, now=1000 + offset_s)


@pytest.mark.parametrize("offset_s", [-301, 301, 86400])
def test_verify_timestamp_outside_tolerance_rejected(offset_s: int) -> None:
    secret = generate_secret()
    headers = webhook_headers([secret], "e1", 1000, BODY)
    assert not verify(secret, headers, BODY, now=1000 + offset_s)


def test_verify_custom_tolerance() -> None:
    secret = generate_secret()
    headers = webhook_headers([secret], "e1", 1000, BODY)
    assert verify(secret, headers, BODY, tolerance_s=3600, now=4000)
    assert not verify(secret, headers, BODY, tolerance_s=10, now=1011)


def test_verify_wrong_secret_or_body_rejected() -> None:
    secret = generate_secret()
    headers = webhook_headers([secret], "e1", 1000, BODY)
    assert not verify(generate_secret(), headers, BODY, now=1000)
    assert not verify(secret, headers, BODY + b" ", now=1000)
    assert not verify(secret, {**headers, ID_HEADER: "e2"}, BODY, now=1000)
    assert not verify(secret, {**headers, TIMESTAMP_HEADER: "1001"}, BODY, now=1000)


@pytest.mark.parametrize(
    "broken",
    [
        {ID_HEADER: ""},
        {TIMESTAMP_HEADER: "soon"},
        {TIMESTAMP_HEADER: "-1000"},
        {TIMESTAMP_HEADER: "1000.0"},
        {SIGNATURE_HEADER: ""},
        {SIGNATURE_HEADER: "garbage"},
        {SIGNATURE_HEADER: "v1,ünïcode"},
    ],
)
def test_verify_malformed_headers_rejected(broken: dict[str, str]) -> None:
    secret = generate_secret()
    headers = {**webhook_headers([secret], "e1", 1000, BODY), **broken}
    assert not verify(secret, headers, BODY, now=1000)


def test_verify_missing_headers_rejected() -> None:
    secret = generate_secret()
    headers = webhook_headers([secret], "e1", 1000, BODY)
    for name in (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER):
        partial = {k: v for k, v in headers.items() if k != name}
        assert not verify(secret, partial, BODY, now=1000)
