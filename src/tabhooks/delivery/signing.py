"""Standard Webhooks signatures, so receivers can check a delivery came from us.

Tableau's webhooks are unsigned; tabhooks adds the Standard Webhooks scheme (``v1``,
HMAC-SHA256 over ``"{id}.{timestamp}.{body}"``) because any of its libraries, or Svix's, then
verifies our deliveries without tabhooks-specific code. The timestamp is signed so a captured
request cannot be replayed later, and the id so it cannot be replayed as another event.

During a secret rotation the old and new secrets both sign and both signatures travel in one
header, separated by spaces; a receiver that knows either accepts the delivery.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import secrets as secrets_module
import time
from collections.abc import Mapping, Sequence

#: Prefix that marks a symmetric Standard Webhooks secret.
SECRET_PREFIX = "whsec_"
#: Random bytes in a generated secret (the spec asks for 24 to 64).
SECRET_BYTES = 32
#: Identifier of the HMAC-SHA256 scheme in ``webhook-signature``.
SIGNATURE_VERSION = "v1"
#: How far a timestamp may be from the verifier's clock, in either direction (the reference
#: library's fixed 5 minutes).
TIMESTAMP_TOLERANCE_S = 300

#: Header carrying the event id, the same on every retry (the receiver's idempotency key).
ID_HEADER = "webhook-id"
#: Header carrying the attempt's Unix time in seconds.
TIMESTAMP_HEADER = "webhook-timestamp"
#: Header carrying one or more space-separated ``v1,<base64>`` signatures.
SIGNATURE_HEADER = "webhook-signature"


def generate_secret() -> str:
    """Create a new signing secret, ``whsec_`` followed by base64 of random bytes."""
    raw = secrets_module.token_bytes(SECRET_BYTES)
    return SECRET_PREFIX + base64.b64encode(raw).decode("ascii")


@functools.lru_cache(maxsize=4096)
def decode_secret(secret: str) -> bytes:
    """Return the key bytes of a ``whsec_`` secret (the prefix is optional).

    Cached: the dispatcher signs every attempt with one of a few secrets (opened from the
    store by :mod:`tabhooks.store.crypto`, itself cached), so each is decoded once. A secret
    that fails to decode raises every time (exceptions are not cached).

    Raises:
        ValueError: The secret is empty or not base64; failing loudly beats signing with a
            key the receiver does not have.
    """
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error as exc:
        raise ValueError("webhook secret is not valid base64") from exc
    if not key:
        raise ValueError("webhook secret is empty")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Sign one delivery attempt with one secret.

    Args:
        secret: A ``whsec_`` secret.
        msg_id: The event id sent in ``webhook-id``; it must not contain ``.``, which would
            make the signed string ambiguous.
        timestamp: The Unix time sent in ``webhook-timestamp``.
        body: Exactly the bytes sent as the request body.

    Returns:
        ``v1,<base64 signature>``.

    Raises:
        ValueError: ``msg_id`` contains a full stop, or the secret is invalid.
    """
    if "." in msg_id:
        raise ValueError("msg_id must not contain '.'")
    return _sign_with_key(decode_secret(secret), msg_id, timestamp, body)


def _sign_with_key(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    mac = _keyed(key).copy()
    mac.update(f"{msg_id}.{timestamp}.".encode())
    mac.update(body)
    return f"{SIGNATURE_VERSION},{base64.b64encode(mac.digest()).decode('ascii')}"


@functools.lru_cache(maxsize=4096)
def _keyed(key: bytes) -> hmac.HMAC:
    """An HMAC-SHA256 already keyed with ``key``, to copy for each message.

    OpenSSL 3 looks the algorithm up again on every one-shot ``hmac.digest`` (about 9 µs a
    call, measured); copying a keyed state skips that and the key schedule (under 4 µs), and
    every attempt of a webhook signs with the same few keys (docs/performance.md, phase (i)).
    """
    return hmac.new(key, digestmod="sha256")


def signature_header(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """Build the ``webhook-signature`` value: one signature per current secret.

    Args:
        secrets: Every secret that should sign, e.g. the new and the old one while rotating.
        msg_id: As for :func:`sign`.
        timestamp: As for :func:`sign`.
        body: As for :func:`sign`.

    Raises:
        ValueError: No secret was given, or one is invalid.
    """
    if not secrets:
        raise ValueError("at least one secret is needed to sign")
    return " ".join(sign(secret, msg_id, timestamp, body) for secret in secrets)


def webhook_headers(
    secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """Return the three Standard Webhooks headers for one attempt.

    Args:
        secrets: As for :func:`signature_header`.
        msg_id: As for :func:`sign`.
        timestamp: As for :func:`sign`; the time of this attempt, not of the event.
        body: As for :func:`sign`.
    """
    return {
        ID_HEADER: msg_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature_header(secrets, msg_id, timestamp, body),
    }


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    tolerance_s: float = TIMESTAMP_TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """Check a delivery the way a receiver would (used by the inspector and by tests).

    Args:
        secret: The ``whsec_`` secret the receiver holds.
        headers: Request headers; names are matched case-insensitively.
        body: The raw request body.
        tolerance_s: Largest accepted distance between the timestamp and ``now``.
        now: The verifier's Unix time; the system clock when omitted.

    Returns:
        ``True`` if a ``v1`` signature matches and the timestamp is within tolerance;
        ``False`` for anything else, malformed headers included.

    Raises:
        ValueError: The secret itself is invalid (a configuration error, not a bad request).
    """
    key = decode_secret(secret)
    lowered = {name.lower(): value for name, value in headers.items()}
    msg_id = lowered.get(ID_HEADER)
    timestamp_text = lowered.get(TIMESTAMP_HEADER, "").strip()
    signatures = lowered.get(SIGNATURE_HEADER)
    if not msg_id or not signatures or not timestamp_text.isascii():
        return False
    if not timestamp_text.isdigit():
        return False
    timestamp = int(timestamp_text)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        return False
    expected = _sign_with_key(key, msg_id, timestamp, body).encode("ascii")
    matched = False
    for candidate in signatures.split():
        # Compare every entry so timing does not reveal which one matched.
        matched |= hmac.compare_digest(expected, candidate.encode("ascii", "replace"))
    return matched


def attempt_headers(msg_id: str, body: bytes, secrets: Sequence[str]) -> dict[str, str]:
    """The Standard Webhooks headers for one attempt, timestamped now; signed when the webhook
    has secrets, and still carrying ``webhook-id``/``webhook-timestamp`` when it has none."""
    timestamp = int(time.time())
    if secrets:
        return webhook_headers(secrets, msg_id, timestamp, body)
    return {ID_HEADER: msg_id, TIMESTAMP_HEADER: str(timestamp)}
