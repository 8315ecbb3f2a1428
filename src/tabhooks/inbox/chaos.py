"""How a bin answers one request: its chosen response, or a failure it was told to fake.

Pure, like :mod:`tabhooks.delivery.retry`: the capture endpoint passes in the one fact that
needs the store (whether a "fail the next N" failure was taken, atomically) and a random
roll, and gets back a :class:`Reply`. The order of the rules is the order a person setting
up an experiment expects:

1. ``never_answer`` wins: the connection is held until the sender gives up.
2. A forced failure ("fail the next N") is used before anything random.
3. ``fail_percent`` fails that share of the remaining requests.
4. Otherwise the chosen status, headers and body.

The chosen delay applies to failures too, so a slow *and* failing receiver can be played.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from tabhooks.inbox.bins import Bin


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer to give; ``status`` ``None`` means "never answer"."""

    status: int | None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    #: Why chaos chose this answer, shown next to the request; ``None`` for the chosen one.
    note: str | None = None


def choose(bin_: Bin, *, forced_remaining: int | None, roll: float) -> Reply:
    """The reply for one request.

    Args:
        bin_: The bin's settings at arrival.
        forced_remaining: ``None`` when no forced failure was taken for this request;
            otherwise how many remain after this one.
        roll: A uniform random number in [0, 1) for ``fail_percent``.
    """
    if bin_.never_answer:
        return Reply(None, note="chaos: never answered (held until the sender gave up)")
    if forced_remaining is not None:
        return _failure(bin_, f"chaos: forced failure ({forced_remaining} more to fail)")
    if bin_.fail_percent and roll * 100 < bin_.fail_percent:
        return _failure(bin_, f"chaos: random failure ({bin_.fail_percent}% of requests fail)")
    return Reply(
        bin_.response_status,
        body=bin_.response_body.encode(),
        headers=dict(bin_.response_headers),
        delay_s=bin_.response_delay_s,
    )


def _failure(bin_: Bin, note: str) -> Reply:
    return Reply(
        bin_.fail_status,
        body=json.dumps({"error": note}).encode(),
        headers={"Content-Type": "application/json"},
        delay_s=bin_.response_delay_s,
        note=note,
    )
