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


#: Every pair of digits, so a 128-bit value is written ten bits at a time (ids are made per
#: delivery and per attempt, so this is on the delivery hot path).
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]


def new_id(prefix: str = "") -> str:
    """A fresh id such as ``msg_01JD3W0V9D1C3AX4YQ2M8K7Z5R``."""
    value = (time.time_ns() // 1_000_000) << _RANDOM_BITS | secrets.randbits(_RANDOM_BITS)
    pairs = _PAIRS
    return prefix + "".join(
        [pairs[(value >> shift) & 0x3FF] for shift in range(_LENGTH * 5 - 10, -1, -10)]
    )
