"""``tabhooks fire`` exits 1 when a delivery failed, is retrying, or was not tried in time."""

from __future__ import annotations

from typing import Any

import pytest

from tabhooks.cli.fire import succeeded


def delivery(status: str, attempts: int) -> dict[str, Any]:
    return {"status": status, "attempts": attempts}


@pytest.mark.parametrize(
    ("found", "complete", "wait", "ok"),
    [
        ([], True, 30.0, True),  # nobody listens: nothing to fail
        ([delivery("succeeded", 1)], True, 30.0, True),
        ([delivery("succeeded", 2), delivery("succeeded", 1)], True, 30.0, True),
        ([delivery("failed", 1)], True, 30.0, False),
        ([delivery("pending", 1)], True, 30.0, False),  # retrying after a failed attempt
        ([delivery("succeeded", 1), delivery("failed", 3)], True, 30.0, False),
        ([delivery("pending", 0)], False, 30.0, False),  # not tried within --wait
        ([], False, 30.0, False),  # the delivery never appeared
        ([delivery("pending", 0)], False, 0.0, True),  # --wait 0: not waiting is not failing
        ([delivery("failed", 1)], False, 0.0, False),
    ],
)
def test_fire_succeeds_only_when_every_delivery_did(
    found: list[dict[str, Any]], complete: bool, wait: float, ok: bool
) -> None:
    assert succeeded(found, complete, wait) is ok
