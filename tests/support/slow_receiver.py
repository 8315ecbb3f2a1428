"""A local HTTP receiver that answers slowly and watches every ``webhook-id`` while in flight.

The plain :class:`tests.support.receiver.Receiver` only records what arrived. The crash and
multi-worker tests also need *when*: a slow answer keeps deliveries in flight so a SIGKILL lands
mid-attempt, and "is this ``webhook-id`` already being delivered by someone else right now?" can
only be answered by the receiver itself, at the moment the second request arrives.

It speaks HTTP/1.1 with keep-alive (like real receivers, and so a sender's pooled connections
stay open long enough to tell which process owns them) and never closes an idle connection
itself, so a sender cannot race a server-side close and see a spurious failure.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(slots=True)
class Arrival:
    """One request: recorded when its body has arrived, completed when the answer is out."""

    webhook_id: str
    path: str
    resource_luid: str
    peer_port: int
    #: ``time.monotonic()`` when the body had been read.
    started: float
    #: ``time.monotonic()`` when the answer was written, or when writing it failed.
    ended: float | None = None
    #: Whether writing the answer succeeded. A write into a just-killed sender's socket often
    #: still succeeds (the kernel reports the reset later), so True does not prove it was read.
    answered: bool = False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 drops SYNs under a burst of new connections; the retransmit
    # (1 s later) could push an attempt past its timeout and cause a retry the test did not ask
    # for.
    request_queue_size = 512

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A sender killed mid-request resets its sockets; that is what these tests do on purpose.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class SlowReceiver:
    """Answers 200 to every POST after ``delay_s``; records each request and its timing.

    ``delay_s`` may be changed while running; it applies to requests arriving from then on.
    ``overlaps`` lists every ``webhook-id`` that arrived while another request with the same id
    had not been answered yet — a delivery sent twice at once.
    """

    def __init__(self, delay_s: float = 0.1) -> None:
        self.delay_s = delay_s
        self.overlaps: list[str] = []
        self.max_in_flight = 0
        self._arrivals: list[Arrival] = []
        self._in_flight: Counter[str] = Counter()
        self._current = 0
        self._lock = threading.Lock()
        self._server: _Server | None = None

    def start(self) -> SlowReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                receiver._handle(self, body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = _Server(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=self._server.serve_forever, name="slow-receiver", daemon=True
        ).start()
        return self

    def _handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        webhook_id = handler.headers.get("webhook-id", "")
        try:
            luid = str(json.loads(body).get("resource_luid", ""))
        except (ValueError, AttributeError):
            luid = ""
        arrival = Arrival(
            webhook_id, handler.path, luid, handler.client_address[1], time.monotonic()
        )
        with self._lock:
            if self._in_flight[webhook_id] > 0:
                self.overlaps.append(webhook_id)
            self._in_flight[webhook_id] += 1
            self._current += 1
            self.max_in_flight = max(self.max_in_flight, self._current)
            self._arrivals.append(arrival)
        answered = False
        try:
            time.sleep(self.delay_s)
            handler.send_response(200)
            handler.send_header("Content-Type", "text/plain")
            handler.send_header("Content-Length", "2")
            handler.end_headers()
            handler.wfile.write(b"ok")
            handler.wfile.flush()
            answered = True
        except OSError:
            handler.close_connection = True
        finally:
            with self._lock:
                self._in_flight[webhook_id] -= 1
                self._current -= 1
                arrival.ended = time.monotonic()
                arrival.answered = answered

    def url(self, path: str = "/hook") -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{path}"

    def arrivals(self) -> list[Arrival]:
        """A copy of every request so far, in arrival order."""
        with self._lock:
            return [replace(a) for a in self._arrivals]

    def count(self) -> int:
        with self._lock:
            return len(self._arrivals)

    def wait_until(
        self,
        done: Callable[[list[Arrival]], bool],
        timeout_s: float,
        describe: Callable[[list[Arrival]], str] = lambda a: f"{len(a)} requests",
    ) -> list[Arrival]:
        """Poll until ``done(arrivals)``; fail with ``describe(arrivals)`` after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            arrivals = self.arrivals()
            if done(arrivals):
                return arrivals
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout_s}s: {describe(arrivals)}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
