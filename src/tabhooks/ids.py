"""Time-ordered ids for what tabhooks itself creates (deliveries, attempts, events, requests).

Ids made per delivery and per attempt are on the delivery hot path, and rows inserted in id
order append to their primary-key index instead of landing on a random page of it (on SQLite,
a random key costs about twice the insert). So every id here starts with the time:

* :func:`new_id` — like a ULID: 48 bits of milliseconds then 80 random bits, in Crockford
  base32, so sorting ids sorts by creation time and an id range is a time range;
* :func:`new_uuid7` — an RFC 9562 version-7 UUID (milliseconds, then random bits), for rows
  whose ids must be UUIDs, such as events.

The random bits are uniqueness, not secrecy (none of these ids grants access to anything), so
they come from :mod:`random`, whose shared generator is reseeded in a forked child.
"""

from __future__ import annotations

import random
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_RANDOM_BITS = 80

#: Every pair of digits, so a 128-bit value is written ten bits at a time.
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]
#: Where each pair of digits starts, in the time part and in the random part.
_TIME_SHIFTS = range(40, -1, -10)
_SHIFTS = range(_RANDOM_BITS - 10, -1, -10)
#: The last millisecond seen and its ten digits (replaced whole, so a reader never sees a
#: millisecond with another's digits).
_last_millisecond: tuple[int, str] = (-1, "")

#: The version (7) and variant (0b10) bits of a UUIDv7, in place.
_UUID7_MARKS = 0x7 << 76 | 0b10 << 62


def new_id(prefix: str = "") -> str:
    """A fresh id such as ``msg_01JD3W0V9D1C3AX4YQ2M8K7Z5R``.

    The first ten digits are the millisecond (two zero bits and 48 bits of time), the last
    sixteen the random bits; the time's digits are reused within a millisecond.
    """
    global _last_millisecond
    ms = time.time_ns() // 1_000_000
    cached_ms, time_digits = _last_millisecond
    if ms != cached_ms:
        time_digits = "".join([_PAIRS[(ms >> shift) & 0x3FF] for shift in _TIME_SHIFTS])
        _last_millisecond = (ms, time_digits)
    bits = random.getrandbits(_RANDOM_BITS)
    pairs = _PAIRS
    return prefix + time_digits + "".join([pairs[(bits >> shift) & 0x3FF] for shift in _SHIFTS])


def new_uuid7() -> str:
    """A fresh version-7 UUID in its usual text form, e.g. ``0193…-7…-8…-…``."""
    value = (
        (time.time_ns() // 1_000_000) << 80
        | random.getrandbits(12) << 64
        | random.getrandbits(62)
        | _UUID7_MARKS
    )
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
