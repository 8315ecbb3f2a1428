"""Following something until told to stop: the loop behind ``tail`` and ``listen``.

The CLI follows bins and deliveries by asking the JSON API at a short interval rather than
holding the inspector's server-sent-events stream open: that stream is a UI route, carries
rendered HTML, may need a dashboard cookie (``inbox_public_view=false``) and ends every five
minutes, while the JSON listing takes the same ``X-Tableau-Auth`` token as everything else
and returns the full request. Half a second between looks is as fast as a person notices.

SIGINT (Ctrl-C) and SIGTERM set a flag the loop checks between looks, so the command ends
cleanly — finishing the request it is forwarding and deleting what it created — instead of
dying mid-call. A second signal interrupts at once.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

#: Default seconds between looks at the server.
INTERVAL_S = 0.5


class Stop:
    """Set by SIGINT/SIGTERM; :meth:`sleep` returns early when it is."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    @property
    def is_set(self) -> bool:
        return self._event.is_set()

    def sleep(self, seconds: float) -> bool:
        """Wait ``seconds``; ``True`` if a stop was asked meanwhile."""
        return self._event.wait(seconds)


@contextmanager
def until_signalled() -> Iterator[Stop]:
    """A :class:`Stop` set by SIGINT or SIGTERM while the block runs; handlers restored after."""
    stop = Stop()

    def handle(signum: int, frame: FrameType | None) -> None:
        if stop.is_set:  # asked twice: stop now, even in the middle of a call
            raise KeyboardInterrupt
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
