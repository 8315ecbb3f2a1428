"""SQLite write-ahead log checkpoints, in a thread of their own instead of inside a commit.

In WAL mode SQLite copies the log back into the database file ("checkpoints") automatically,
inside whichever commit pushes the log past 1,000 pages. tabhooks commits on the event loop
(see :mod:`tabhooks.store.engine`), so that commit — an API request's, or the dispatcher's —
stalls every request and delivery for the milliseconds the copy takes: measured, the
automatic checkpoint made an average Create Webhook 35 % slower and its worst case 14 times
slower. The store's connections therefore turn the automatic checkpoint off, and a
:class:`WalCheckpointer` runs a ``PASSIVE`` checkpoint every :data:`INTERVAL_S` from its own
thread and connection. A passive checkpoint never waits for, nor blocks, readers or the
writer; whatever it could not copy this time it copies next time.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

log = logging.getLogger(__name__)

#: How often the log is copied back: short enough that the log stays a few megabytes under
#: sustained writes; when nothing was written, a checkpoint finds nothing to copy.
INTERVAL_S = 1.0


class WalCheckpointer:
    """Checkpoints one SQLite database file from a daemon thread until :meth:`stop`."""

    def __init__(self, database: str, interval_s: float = INTERVAL_S) -> None:
        self.database = database
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="tabhooks-wal-checkpoint", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self.database, isolation_level=None)
        except sqlite3.Error as exc:
            log.warning("action=wal_checkpoint_failed database=%s error=%s", self.database, exc)
            return
        try:
            while not self._stop.wait(self.interval_s):
                self.checkpoint(conn)
        finally:
            conn.close()

    def checkpoint(self, conn: sqlite3.Connection) -> None:
        """One passive checkpoint: copy what no reader still needs, wait for nobody."""
        try:
            busy, logged, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:  # e.g. the file was removed under us; try again later
            log.warning("action=wal_checkpoint_failed database=%s error=%s", self.database, exc)
            return
        log.debug("action=wal_checkpoint logged=%s copied=%s busy=%s", logged, copied, busy)
