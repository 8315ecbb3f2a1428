"""The runner's own threads, for the blocking parts of a connection check.

Opening a SQLite file, reading a CSV file and resolving a database host name are blocking
calls; run on the event loop they would stall the API and the deliveries with it. They run
here instead — not in the loop's default executor, which aiohttp's resolver and other work
share, so a burst of slow checks cannot starve them either.

A thread cannot be stopped from outside, so each call is handed an :class:`threading.Event`
that is set once its caller stops waiting (the job timed out, was cancelled, or lost its
lease): the work checks it and gives up at its next chance.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

#: What blocking work receives: set once nobody waits for its answer any more.
Abandoned = threading.Event


class Offload:
    """A small pool of threads for blocking checks.

    Args:
        threads: Most checks blocking at once (one per job the runner may run at once).
    """

    def __init__(self, threads: int) -> None:
        self._executor = ThreadPoolExecutor(max(1, threads), thread_name_prefix="tabhooks-job")

    async def run(self, work: Callable[[Abandoned], T]) -> T:
        """``work(abandoned)`` in a pool thread; ``abandoned`` is set when this call ends,
        normally or by cancellation, so a thread still running gives up early."""
        abandoned = threading.Event()
        future = asyncio.get_running_loop().run_in_executor(self._executor, work, abandoned)
        try:
            return await future
        finally:
            abandoned.set()

    def close(self) -> None:
        """Drop queued work and let the running threads end on their own."""
        self._executor.shutdown(wait=False, cancel_futures=True)
