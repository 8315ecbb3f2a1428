"""Following a bin: the stream of changes behind the live view (server-sent events).

The view sleeps on the :class:`~tabhooks.inbox.hub.InboxHub` and, woken or not, asks the
store what arrived since its last look at most :data:`POLL_S` later. The store is the truth
and the hub only makes it fast, which is what makes the same code right on one SQLite process
and on many PostgreSQL processes (where a hint may come late or never).

Ids are time-ordered but minted by whichever process captured the request, so two processes'
clocks can disagree a little; the view therefore looks back :data:`LOOKBACK` behind the
newest arrival it has shown and skips ids it already sent.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from tabhooks.inbox import bins, history
from tabhooks.inbox.bins import Bin
from tabhooks.inbox.hub import InboxHub
from tabhooks.inbox.inspection import Captured
from tabhooks.store import Store

#: Longest a live view waits without a hint before asking the store anyway.
POLL_S = 1.0
#: How far behind the newest shown arrival each look starts (tolerated clock skew).
LOOKBACK = timedelta(seconds=5)
#: Silence after which a keep-alive goes out, so proxies do not close an idle stream.
KEEPALIVE_S = 15.0
#: Ids remembered to avoid sending a request twice.
_SEEN_MAX = 5000


class ChangeKind(StrEnum):
    """What a live view is told."""

    #: A request arrived (``Change.request`` holds it).
    REQUEST = "request"
    #: The bin was emptied.
    CLEARED = "cleared"
    #: The bin is gone; the stream ends.
    DELETED = "deleted"
    #: Nothing happened for a while.
    KEEPALIVE = "keepalive"


@dataclass(frozen=True, slots=True)
class Change:
    kind: ChangeKind
    request: Captured | None = None


async def _next_hints(queue: asyncio.Queue[str], timeout_s: float) -> set[str]:
    """Every hint pending after waiting up to ``timeout_s`` for the first."""
    hints: set[str] = set()
    with contextlib.suppress(TimeoutError):
        hints.add(await asyncio.wait_for(queue.get(), timeout_s))
    while not queue.empty():
        hints.add(queue.get_nowait())
    return hints


async def follow(
    store: Store, hub: InboxHub, bin_: Bin, *, after: datetime, shown: Iterable[str] = ()
) -> AsyncIterator[Change]:
    """Changes to ``bin_`` from ``after`` on, until the bin is deleted or the caller stops.

    Args:
        after: Arrival time of the newest request the viewer already has.
        shown: Ids the viewer already has (they are not sent again).
    """
    seen: OrderedDict[str, None] = OrderedDict((i, None) for i in shown)
    floor = after - LOOKBACK
    quiet_s = 0.0
    with hub.subscribe(bin_.id) as queue:
        while True:
            hints = await _next_hints(queue, POLL_S)
            if hints:
                current = await bins.find(store, bin_.id)
                if current is None or "deleted" in hints:
                    yield Change(ChangeKind.DELETED)
                    return
                bin_ = current
                if "cleared" in hints:
                    yield Change(ChangeKind.CLEARED)
            fresh = [r for r in await history.since(store, bin_, floor) if r.id not in seen]
            for request in fresh:
                seen[request.id] = None
                yield Change(ChangeKind.REQUEST, request)
            while len(seen) > _SEEN_MAX:
                seen.popitem(last=False)
            if fresh:
                floor = max(floor, max(r.received_at for r in fresh) - LOOKBACK)
            quiet_s = 0.0 if (fresh or hints) else quiet_s + POLL_S
            if quiet_s >= KEEPALIVE_S:
                quiet_s = 0.0
                yield Change(ChangeKind.KEEPALIVE)
