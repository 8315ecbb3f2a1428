"""Time-ordered ids for what tabhooks itself creates (deliveries, attempts, inbox requests).

Like ULIDs: 48 bits of milliseconds then 80 random bits, in Crockford base32, so sorting ids
sorts by creation time and an id range is a time range. Tableau-facing ids stay UUIDs.
"""

from __future__ import annotations

import secrets
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_RANDOM_BITS = 80
_LENGTH = 26


def new_id(prefix: str = "") -> str:
    """A fresh id such as ``msg_01JD3W0V9D1C3AX4YQ2M8K7Z5R``."""
    value = (time.time_ns() // 1_000_000) << _RANDOM_BITS | secrets.randbits(_RANDOM_BITS)
    chars = []
    for _ in range(_LENGTH):
        value, digit = divmod(value, 32)
        chars.append(_ALPHABET[digit])
    return prefix + "".join(reversed(chars))
