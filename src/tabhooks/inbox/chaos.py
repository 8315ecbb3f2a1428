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

The chosen headers pass the allow-list of :mod:`tabhooks.inbox.answer_headers` once more on
the way out: settings are checked when saved, but a bin saved before a rule existed must not
send what the rule refuses. A header left out that way is named in the request's note.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass, field

from tabhooks.inbox import answer_headers
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


def choose(
    bin_: Bin,
    *,
    forced_remaining: int | None,
    roll: float,
    origins: Collection[str] = (),
) -> Reply:
    """The reply for one request.

    Args:
        bin_: The bin's settings at arrival.
        forced_remaining: ``None`` when no forced failure was taken for this request;
            otherwise how many remain after this one.
        roll: A uniform random number in [0, 1) for ``fail_percent``.
        origins: This server's origins as the request reached it: the only absolute
            targets a chosen ``Location`` may name.
    """
    if bin_.never_answer:
        return Reply(None, note="chaos: never answered (held until the sender gave up)")
    if forced_remaining is not None:
        return _failure(bin_, f"chaos: forced failure ({forced_remaining} more to fail)")
    if bin_.fail_percent and roll * 100 < bin_.fail_percent:
        return _failure(bin_, f"chaos: random failure ({bin_.fail_percent}% of requests fail)")
    headers, refused = answer_headers.allowed(bin_.response_headers, origins)
    return Reply(
        bin_.response_status,
        body=bin_.response_body.encode(),
        headers=headers,
        delay_s=bin_.response_delay_s,
        note=f"refused header(s) not sent: {', '.join(refused)}" if refused else None,
    )


def _failure(bin_: Bin, note: str) -> Reply:
    return Reply(
        bin_.fail_status,
        body=json.dumps({"error": note}).encode(),
        headers={"Content-Type": "application/json"},
        delay_s=bin_.response_delay_s,
        note=note,
    )
