"""SQLite write-ahead log checkpoints, in a thread of their own instead of inside a commit.

In WAL mode SQLite copies the log back into the database file ("checkpoints") automatically,
inside whichever commit pushes the log past 1,000 pages. tabhooks commits on the event loop
(see :mod:`tabhooks.store.engine`), so that commit — an API request's, or the dispatcher's —
stalls every request and delivery for the milliseconds the copy takes: measured, the
automatic checkpoint made an average Create Webhook 35 % slower and its worst case 14 times
slower. The store's connections therefore turn the automatic checkpoint off, and a
:class:`WalCheckpointer` runs ``PASSIVE`` checkpoints from its own thread and connection. A
passive checkpoint never waits for, nor blocks, readers or the writer; whatever it could not
copy this time it copies next time.

Copying the log back is not enough to bound it: SQLite starts the log over from its beginning
only when a write transaction begins while every frame in it has been copied. Under sustained
writes the writer had always committed again before a pass ended, so that moment never came
and the log grew by every page ever committed: 950 MB after forty seconds of the delivery
benchmark's sustained load, the file keeping that size afterwards. So two things keep it
bounded:

- while the log grows the thread comes back every :data:`BUSY_INTERVAL_S` instead of every
  :data:`INTERVAL_S`, so no pass has much to copy;
- once the log passes :data:`LOG_BOUND_BYTES`, the next writer waits (asynchronously: the event
  loop runs on) for one more pass before it begins (:meth:`WalCheckpointer.catch_up`). With no
  commit landing during that pass it copies everything, and the writer starts the log over.
  (A reader still using old frames keeps the pass from copying those; writers then wait
  again only once the log has grown by another bound.)

Measured, the log then stays under 20 MB under that load, at the same delivery rate
(docs/performance.md, "The write-ahead log under sustained writes").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading

log = logging.getLogger(__name__)

#: How often the log is looked at while nothing is being written.
INTERVAL_S = 1.0
#: How soon the next pass follows one that found the log grown since the pass before.
BUSY_INTERVAL_S = 0.05
#: The log size past which the next writer waits for a pass (see the module docstring); the
#: store's writer also truncates a larger file to this when the log starts over.
LOG_BOUND_BYTES = 16 * 1024 * 1024
#: Longest a writer waits for its pass (a stopped or stuck thread must not stop writers).
CATCH_UP_TIMEOUT_S = 5.0


class WalCheckpointer:
    """Checkpoints one SQLite database file from a daemon thread until :meth:`stop`."""

    def __init__(self, database: str, interval_s: float = INTERVAL_S) -> None:
        self.database = database
        self.interval_s = interval_s
        self.busy_interval_s = min(BUSY_INTERVAL_S, interval_s)
        #: The log's size in bytes at the last pass (0 after a pass writers waited for copied
        #: all of it: the next writer starts it over). Written by the thread, read by the loop.
        self.log_bytes = 0
        #: The size at which the next writer waits for a pass: the bound, or further once a
        #: reader kept such a pass from copying everything (writers would otherwise wait for
        #: a pass each for as long as that reader lasts).
        self.wait_at_bytes = LOG_BOUND_BYTES
        #: Passes writers have waited for.
        self.catch_ups = 0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        #: Writers waiting for the next pass (see :meth:`catch_up`).
        self._waiting: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="tabhooks-wal-checkpoint", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._release_waiting()

    def over_bound(self) -> bool:
        """Whether the next writer should wait for a pass (:meth:`catch_up`): the log has grown
        past :data:`LOG_BOUND_BYTES` as of the last pass (further, while a reader holds it)."""
        return self.log_bytes >= self.wait_at_bytes

    async def catch_up(self) -> None:
        """Wait for the thread's next pass, started now.

        The caller holds the store's write lock, so no commit lands during the pass and it
        copies the whole log: the caller's transaction then starts the log over.
        """
        if self._thread is None or not self._thread.is_alive():
            return
        self.catch_ups += 1
        loop = asyncio.get_running_loop()
        passed: asyncio.Future[None] = loop.create_future()
        with self._lock:
            self._waiting.append((loop, passed))
        self._wake.set()
        try:
            await asyncio.wait_for(passed, CATCH_UP_TIMEOUT_S)
        except TimeoutError:
            log.warning("action=wal_catch_up_timeout database=%s", self.database)

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self.database, isolation_level=None)
        except sqlite3.Error as exc:
            log.warning("action=wal_checkpoint_failed database=%s error=%s", self.database, exc)
            return
        try:
            page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
            logged_before: int | None = None
            wait_s = self.interval_s
            while True:
                self._wake.wait(wait_s)
                self._wake.clear()
                if self._stop.is_set():
                    return
                waiting = self._take_waiting()
                logged, copied = self.checkpoint(conn)
                # A pass writers waited for copied what they left, all of it unless a reader
                # held some back: the next writer starts the log over. Otherwise the log keeps
                # whatever was committed during the pass.
                complete = bool(waiting) and logged is not None and logged == copied
                size = 0 if complete else (logged or 0) * page_size
                if size < LOG_BOUND_BYTES:
                    self.wait_at_bytes = LOG_BOUND_BYTES
                elif waiting:  # a reader kept this pass from copying it all
                    self.wait_at_bytes = size + LOG_BOUND_BYTES
                self.log_bytes = size
                self._release(waiting)
                # A log that changed since the last pass is being written to: come back soon.
                busy = logged is not None and logged > 0 and logged != logged_before
                wait_s = self.busy_interval_s if busy else self.interval_s
                logged_before = logged
        except sqlite3.Error as exc:
            log.warning("action=wal_checkpoint_failed database=%s error=%s", self.database, exc)
        finally:
            conn.close()
            self.log_bytes = 0  # no pass will come: writers must not wait for one
            self._release_waiting()

    def checkpoint(self, conn: sqlite3.Connection) -> tuple[int | None, int | None]:
        """One passive checkpoint: copy what no reader still needs, wait for nobody.

        Returns:
            The frames in the log and how many of them have been copied (both None when the
            checkpoint failed).
        """
        try:
            # fetchall: the statement finishes here, not whenever its cursor is collected; an
            # unfinished one keeps a read lock on the log, which then cannot start over.
            ((busy, logged, copied),) = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:  # e.g. the file was removed under us; try again later
            log.warning("action=wal_checkpoint_failed database=%s error=%s", self.database, exc)
            return None, None
        log.debug("action=wal_checkpoint logged=%s copied=%s busy=%s", logged, copied, busy)
        return int(logged), int(copied)

    def _take_waiting(self) -> list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]]:
        """The writers waiting for a pass, from now on the caller's to release."""
        with self._lock:
            waiting, self._waiting = self._waiting, []
        return waiting

    def _release_waiting(self) -> None:
        self._release(self._take_waiting())

    @staticmethod
    def _release(waiting: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]]) -> None:
        for loop, passed in waiting:
            # A loop that has closed has nobody waiting any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_set_done, passed)


def _set_done(passed: asyncio.Future[None]) -> None:
    if not passed.done():
        passed.set_result(None)
