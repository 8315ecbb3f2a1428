"""Ids sort by creation time and keep their formats (ULID-like text, RFC 9562 UUIDv7)."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable

import pytest

from tabhooks.ids import new_id, new_uuid7

CROCKFORD = set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")


def _crockford_value(text: str) -> int:
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    value = 0
    for char in text:
        value = value * 32 + alphabet.index(char)
    return value


def test_new_id_is_prefix_and_26_crockford_digits_starting_with_the_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    made = new_id("msg_")
    after = time.time_ns() // 1_000_000
    assert made.startswith("msg_")
    body = made.removeprefix("msg_")
    assert len(body) == 26 and set(body) <= CROCKFORD
    assert before <= _crockford_value(body) >> 80 <= after


@pytest.mark.parametrize("make", [new_id, new_uuid7], ids=["new_id", "new_uuid7"])
def test_ids_are_unique_and_sort_by_time_as_text(make: Callable[[], str]) -> None:
    first = [make() for _ in range(2_000)]
    time.sleep(0.002)
    second = [make() for _ in range(2_000)]
    assert len(set(first + second)) == 4_000
    assert max(first) < min(second)


def test_new_uuid7_is_a_version_7_rfc_uuid_carrying_the_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    made = uuid.UUID(new_uuid7())
    after = time.time_ns() // 1_000_000
    assert made.version == 7
    assert made.variant == uuid.RFC_4122
    assert before <= made.int >> 80 <= after
    assert str(made) == str(made).lower()


def test_new_id_is_the_128_bit_value_in_26_digits() -> None:
    """Time digits are cached per millisecond; the id must still be the whole value encoded."""
    for _ in range(500):
        state = random.getstate()
        made = new_id()
        random.setstate(state)
        bits = random.getrandbits(80)
        assert _crockford_value(made) & ((1 << 80) - 1) == bits
        assert _crockford_value(made) >> 128 == 0  # the two leading bits stay zero
