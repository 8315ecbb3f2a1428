"""Following something until told to stop: the loop behind ``tail`` and ``listen``.

The CLI follows bins and deliveries by asking the JSON API at a short interval rather than
holding the inspector's server-sent-events stream open: that stream is a UI route, carries
rendered HTML, may need a dashboard cookie (``inbox_public_view=false``) and ends every five
minutes, while the JSON listing takes the same ``X-Tableau-Auth`` token as everything else
and returns the full request. Half a second between looks is as fast as a person notices.

SIGINT (Ctrl-C) and SIGTERM set a flag the loop checks between looks, so the command ends
cleanly — finishing the request it is forwarding and deleting what it created — instead of
dying mid-call. A second signal interrupts at once. Either way the command then exits with
128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM), as a shell reports a process
the signal ended, so a script can tell "stopped" from "done" (``inbox tail --count``
reaching its count exits 0).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import typer

#: Default seconds between looks at the server.
INTERVAL_S = 0.5


class Stop:
    """Set by SIGINT/SIGTERM; :meth:`sleep` returns early when it is."""

    def __init__(self) -> None:
        self._event = threading.Event()
        #: The signal that asked to stop, if one did.
        self.signum: int | None = None

    def set(self, signum: int | None = None) -> None:
        if self.signum is None:
            self.signum = signum
        self._event.set()

    @property
    def is_set(self) -> bool:
        return self._event.is_set()

    def sleep(self, seconds: float) -> bool:
        """Wait ``seconds``; ``True`` if a stop was asked meanwhile."""
        return self._event.wait(seconds)


def exit_code(signum: int) -> int:
    """What a shell reports for a process a signal ended: 128 + its number."""
    return 128 + signum


@contextmanager
def until_signalled() -> Iterator[Stop]:
    """A :class:`Stop` set by SIGINT or SIGTERM while the block runs; handlers restored after.

    When a signal stopped the block, leaving it raises :class:`typer.Exit` with
    :func:`exit_code` of that signal, after everything inside (deleting a bin) has run.
    """
    stop = Stop()

    def handle(signum: int, frame: FrameType | None) -> None:
        if stop.is_set:  # asked twice: stop now, even in the middle of a call
            raise KeyboardInterrupt
        stop.set(signum)

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    except KeyboardInterrupt:
        raise typer.Exit(exit_code(stop.signum or signal.SIGINT)) from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if stop.signum is not None:
        raise typer.Exit(exit_code(stop.signum))
