"""What watching bins may cost: how many live views are open, and where their pages render.

A bin's page and live stream are open to anyone holding its URL (``inbox_public_view``), so
they are bounded like work anyone may start:

- **Places.** A live view holds a connection, a store poll every second and a wake-up queue
  for as long as it is open (up to five minutes, then the browser reconnects). :class:`Watchers`
  admits one only while its bin, its client address and the whole process are under their
  limits; beyond, the caller answers 429 with ``Retry-After``. The place is given back when
  the stream ends, however it ends.
- **Rendering.** A request's card is rendered by Jinja2 and may hold a 256 KiB body pretty-
  printed: several milliseconds of pure Python each. Cards and bin pages are therefore
  rendered in worker threads, :data:`RENDER_THREADS` at a time, not on the event loop, so a
  flood watched by many views slows those views, never the API, the dispatcher or the jobs.
  Views that would render the same card (the same request, seen by viewers who may not
  manage the bin, as every anonymous viewer) share one rendering (:meth:`Watchers.shared`):
  ten viewers of a flooded bin cost one render per request, not ten. A bin page reads up to a
  few MiB of bodies before rendering them, so :data:`PAGE_BUILDS` pages are read and rendered
  at once (:meth:`Watchers.building`); more wait their turn before reading anything.

The counts live in this process's memory, like the other throttles: with several API
processes each admits up to the limits.
"""

from __future__ import annotations

import asyncio
import functools
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import ParamSpec, Self, TypeVar

from tabhooks.config import Settings
from tabhooks.errors import TooManyRequests

P = ParamSpec("P")
R = TypeVar("R")

#: Worker threads that render inspector pages and live cards at once, all bins together.
RENDER_THREADS = 2
#: Bin pages read and rendered at once; the others wait before reading their requests.
PAGE_BUILDS = 4
#: What a refused live view is told to wait: places free as other views end or reconnect.
RETRY_AFTER_S = 10.0
#: Rendered cards kept for other views of the same request (each may be ~300 kB).
SHARED_CARDS = 16


@dataclass(frozen=True, slots=True)
class StreamLimits:
    """Live views open at once: per bin, per client address, and in all."""

    per_bin: int
    per_address: int
    total: int
    #: Seconds one event may wait for the client to take it before the stream ends.
    send_timeout_s: float

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(
            per_bin=settings.inbox_streams_per_bin,
            per_address=settings.inbox_streams_per_address,
            total=settings.inbox_streams_max,
            send_timeout_s=settings.inbox_stream_send_timeout_s,
        )


class Place:
    """One admitted live view; :meth:`release` (idempotent) gives its place back."""

    def __init__(self, watchers: Watchers, bin_id: str, address: str) -> None:
        self._watchers = watchers
        self.bin_id = bin_id
        self.address = address
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._watchers._give_back(self)


class Watchers:
    """Admits live views within :class:`StreamLimits`, and renders pages off the loop."""

    def __init__(self, limits: StreamLimits) -> None:
        self.limits = limits
        self._per_bin: dict[str, int] = {}
        self._per_address: dict[str, int] = {}
        self._total = 0
        self._render_slots = asyncio.Semaphore(RENDER_THREADS)
        self._page_builds = asyncio.Semaphore(PAGE_BUILDS)
        self._shared: OrderedDict[Hashable, asyncio.Future[str]] = OrderedDict()

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(StreamLimits.from_settings(settings))

    def admit(self, bin_id: str, address: str) -> Place:
        """A place for a live view of ``bin_id`` from ``address``.

        Raises:
            TooManyRequests: The bin, the address or the process has no place left.
        """
        limits = self.limits
        full = None
        if self._total >= limits.total:
            full = f"{limits.total} live views are open on this server (TABHOOKS_INBOX_STREAMS_MAX)"
        elif self._per_bin.get(bin_id, 0) >= limits.per_bin:
            full = (
                f"{limits.per_bin} live views of this bin are open (TABHOOKS_INBOX_STREAMS_PER_BIN)"
            )
        elif self._per_address.get(address, 0) >= limits.per_address:
            full = (
                f"{limits.per_address} live views are open from your address "
                "(TABHOOKS_INBOX_STREAMS_PER_ADDRESS)"
            )
        if full is not None:
            raise TooManyRequests(
                f"{full}; close one or try again later.", retry_after_s=RETRY_AFTER_S
            )
        self._total += 1
        self._per_bin[bin_id] = self._per_bin.get(bin_id, 0) + 1
        self._per_address[address] = self._per_address.get(address, 0) + 1
        return Place(self, bin_id, address)

    def _give_back(self, place: Place) -> None:
        self._total -= 1
        for counts, key in ((self._per_bin, place.bin_id), (self._per_address, place.address)):
            left = counts[key] - 1
            if left:
                counts[key] = left
            else:
                del counts[key]

    def open_count(self, bin_id: str | None = None) -> int:
        """Live views open now, on ``bin_id`` or in all."""
        return self._total if bin_id is None else self._per_bin.get(bin_id, 0)

    def building(self) -> asyncio.Semaphore:
        """Held while a bin page reads its requests and renders them (:data:`PAGE_BUILDS`)."""
        return self._page_builds

    async def render(self, render: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """``render(*args, **kwargs)`` in a worker thread, :data:`RENDER_THREADS` at a time."""
        async with self._render_slots:
            return await asyncio.to_thread(functools.partial(render, *args, **kwargs))

    async def shared(
        self, key: Hashable, render: Callable[P, str], *args: P.args, **kwargs: P.kwargs
    ) -> str:
        """:meth:`render`, done once for every view asking with the same ``key`` meanwhile or
        in the last :data:`SHARED_CARDS` renderings.

        The rendering is a task of its own, so a view that goes away while it runs does not
        cancel it for the others; one that fails is forgotten, and each view asking gets the
        error.
        """
        found = self._shared.get(key)
        if found is None:
            found = asyncio.ensure_future(self.render(render, *args, **kwargs))
            found.add_done_callback(functools.partial(self._forget_failed, key))
            self._shared[key] = found
            while len(self._shared) > SHARED_CARDS:
                self._shared.popitem(last=False)
        return await asyncio.shield(found)

    def _forget_failed(self, key: Hashable, done: asyncio.Future[str]) -> None:
        failed = done.cancelled() or done.exception() is not None  # retrieved: not logged
        if failed and self._shared.get(key) is done:
            del self._shared[key]
