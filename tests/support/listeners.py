"""A TCP listener on a loopback address that counts the connections it accepts.

Tests use it where they need to know whether — and how often — the server connected
somewhere: an address the SSRF guard must never reach (it answers 200, so a leak would
"work"), a database that hangs (it answers nothing and holds each connection until the client
gives up), a foreign service a refresh meets (a subclass that answers a protocol of its own).
One class, so that each of those counts connections the same way.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from types import TracebackType
from typing import Literal

#: ``answer``: read the request's head, send :attr:`CountingListener.reply`, close.
#: ``silent``: read and never answer, until the client hangs up (a database that hangs).
Behaviour = Literal["answer", "silent"]

OK_REPLY = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


class CountingListener:
    """Listens on ``host`` (an IPv4 or IPv6 literal) at a free port and counts connections.

    ``connections`` counts every accepted connection, ``open`` those not yet closed by either
    side, ``most_open`` the most open at once. Subclasses change what is done with each
    connection by overriding :meth:`handle`.

    Args:
        host: The address to listen on: ``127.0.0.1``, ``::1``, ``127.0.0.2``, ...
        behaviour: What to do with each connection (see :data:`Behaviour`).
        reply: The bytes an ``answer`` listener sends; may be changed while it runs.
    """

    def __init__(
        self, host: str = "127.0.0.1", behaviour: Behaviour = "answer", reply: bytes = OK_REPLY
    ) -> None:
        self.host = host
        self.behaviour = behaviour
        self.reply = reply
        self.connections = 0
        self.open = 0
        self.most_open = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._clients: list[socket.socket] = []
        self._socket: socket.socket | None = None

    def start(self) -> CountingListener:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self._socket = socket.create_server((self.host, 0), family=family, backlog=64)
        # A timeout, so that the accepting thread sees stop() (closing does not wake accept()).
        self._socket.settimeout(0.1)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop accepting and close every connection still open."""
        self._stop.set()
        if self._socket is not None:
            self._socket.close()
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            _close(client)

    def __enter__(self) -> CountingListener:
        return self if self._socket is not None else self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._socket is not None, "start() the listener first"
        return int(self._socket.getsockname()[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def wait(
        self, what: str, check: Callable[[CountingListener], bool], timeout_s: float = 60.0
    ) -> None:
        """Return once ``check(self)`` holds; fail naming ``what`` if it does not in time."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if check(self):
                    return
            time.sleep(0.05)
        raise AssertionError(
            f"{what} never happened (connections {self.connections}, open {self.open}, "
            f"most open {self.most_open})"
        )

    def handle(self, client: socket.socket) -> None:
        """Serve one accepted connection; it is closed (and no longer counted open) after."""
        if self.behaviour == "silent":
            with suppress(OSError):
                while client.recv(4096):
                    pass
            return
        client.settimeout(2)
        with suppress(OSError):
            head = b""
            while b"\r\n\r\n" not in head and (chunk := client.recv(65536)):
                head += chunk
            client.sendall(self.reply)

    def _accept(self) -> None:
        assert self._socket is not None
        while not self._stop.is_set():
            try:
                client, _ = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self.open += 1
                self.most_open = max(self.most_open, self.open)
                self._clients.append(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            self.handle(client)
        finally:
            _close(client)
            with self._lock:
                self.open -= 1
                if client in self._clients:
                    self._clients.remove(client)


def _close(client: socket.socket) -> None:
    """Shut down first: that wakes a thread blocked reading it, which a plain close does not."""
    with suppress(OSError):
        client.shutdown(socket.SHUT_RDWR)
    client.close()
