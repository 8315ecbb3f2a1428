"""The clock: what time it is, in UTC, to the second or to the microsecond.

One module below everything else, so the store, delivery, services and the CLI read the same
clock (and a test can see where time comes from) without any of them importing another.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now, in UTC, to the second (Tableau's timestamps have no fractions)."""
    return datetime.fromtimestamp(int(time.time()), UTC)  # half the cost of now().replace()


def utcnow_precise() -> datetime:
    """Now, in UTC, to the microsecond: for scheduling and measuring deliveries."""
    return datetime.now(UTC)
