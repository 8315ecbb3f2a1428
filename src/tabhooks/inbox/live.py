"""Following a bin: the stream of changes behind the live view (server-sent events).

The view sleeps on the :class:`~tabhooks.inbox.hub.InboxHub` and, woken or not, asks the
store what arrived since its last look at most :data:`POLL_S` later. The store is the truth
and the hub only makes it fast, which is what makes the same code right on one SQLite process
and on many PostgreSQL processes (where a hint may come late or never).

Ids are time-ordered but minted by whichever process captured the request, so two processes'
clocks can disagree a little; the view therefore looks back :data:`LOOKBACK` behind the
newest arrival it has shown and skips ids it already sent.

A flood must not cost a view more than a reader can use: it looks at most every
:data:`LOOK_MIN_INTERVAL_S`, reads only ids and sizes of what arrived, and takes the bodies of
the newest :data:`LOOK_MAX_REQUESTS` (at most :data:`LOOK_MAX_BYTES` of them) per look; older
arrivals of that look are passed over, as a reload shows them. Each watcher's wake-ups come
through a bounded queue (:mod:`tabhooks.inbox.hub`), so a view that falls behind loses hints,
never memory.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import AsyncGenerator, Iterable
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
#: Shortest time between two looks at the store, however many hints arrive.
LOOK_MIN_INTERVAL_S = 0.25
#: Requests one look sends at most (the newest of those not yet sent).
LOOK_MAX_REQUESTS = 20
#: Body bytes one look reads at most (at least one request is sent).
LOOK_MAX_BYTES = 1024 * 1024


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
) -> AsyncGenerator[Change, None]:
    """Changes to ``bin_`` from ``after`` on, until the bin is deleted or the caller stops.

    Args:
        after: Arrival time of the newest request the viewer already has.
        shown: Ids the viewer already has (they are not sent again).
    """
    seen: OrderedDict[str, None] = OrderedDict((i, None) for i in shown)
    floor = after - LOOKBACK
    quiet_s = 0.0
    clock = asyncio.get_running_loop().time
    last_look = clock() - LOOK_MIN_INTERVAL_S
    with hub.subscribe(bin_.id) as queue:
        while True:
            hints = await _next_hints(queue, POLL_S)
            await asyncio.sleep(max(0.0, last_look + LOOK_MIN_INTERVAL_S - clock()))
            last_look = clock()
            if hints:
                current = await bins.find(store, bin_.id)
                if current is None or "deleted" in hints:
                    yield Change(ChangeKind.DELETED)
                    return
                bin_ = current
                if "cleared" in hints:
                    yield Change(ChangeKind.CLEARED)
            fresh = await history.since(
                store,
                bin_,
                floor,
                shown=seen,
                max_items=LOOK_MAX_REQUESTS,
                max_bytes=LOOK_MAX_BYTES,
            )
            seen.update((i, None) for i in fresh.passed_over)
            for request in fresh.items:
                seen[request.id] = None
                yield Change(ChangeKind.REQUEST, request)
            while len(seen) > _SEEN_MAX:
                seen.popitem(last=False)
            if fresh.items:
                floor = max(floor, max(r.received_at for r in fresh.items) - LOOKBACK)
            quiet_s = 0.0 if (fresh.items or hints) else quiet_s + POLL_S
            if quiet_s >= KEEPALIVE_S:
                quiet_s = 0.0
                yield Change(ChangeKind.KEEPALIVE)
