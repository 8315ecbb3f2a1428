"""Foreign services on 127.0.0.1 that a refresh's PostgreSQL connection may meet: one that is
not a database at all, and one that speaks just enough of the protocol to refuse. Each sends
:data:`MARKER` in its answer, so a test can prove no byte of it reaches the job's notes."""

from __future__ import annotations

import socket
import struct
from typing import Literal

from tests.support.listeners import CountingListener

#: Bytes every fake sends; a job note that contains them repeated a foreign answer.
MARKER = b"MARKER-7f3a-\x1b[2J-not-for-notes"

Mode = Literal["garbage", "auth_failure", "fatal"]


def _error_response(sqlstate: bytes, message: bytes) -> bytes:
    fields = b"SFATAL\x00VFATAL\x00C" + sqlstate + b"\x00M" + message + b"\x00\x00"
    return b"E" + struct.pack("!I", len(fields) + 4) + fields


class FakePostgres(CountingListener):
    """Answers every connection as ``mode`` says; ``connections`` counts them.

    * ``garbage``: an HTTP error page, whatever was asked (a web server on the port).
    * ``auth_failure``: refuses TLS, then answers the startup message with SQLSTATE 28P01.
    * ``fatal``: refuses TLS, then answers with a FATAL error of a class we have no name for.
    """

    def __init__(self, mode: Mode, host: str = "127.0.0.1") -> None:
        super().__init__(host)
        self.mode = mode

    def handle(self, client: socket.socket) -> None:
        try:
            client.recv(1024)  # SSLRequest (or the startup message)
            if self.mode == "garbage":
                client.sendall(b"HTTP/1.1 400 Bad Request\r\nServer: " + MARKER + b"\r\n\r\n")
                return
            client.sendall(b"N")  # no TLS here
            client.recv(4096)  # the startup message
            if self.mode == "auth_failure":
                answer = _error_response(b"28P01", b"password authentication failed " + MARKER)
            else:
                answer = _error_response(b"XX" + MARKER[:3], MARKER)
            client.sendall(answer)
        except OSError:
            pass
