"""What every answer to a fuzzed request must be, whatever was sent.

* never a 5xx;
* an error (4xx) carries the documented envelope: Tableau's ``<tsResponse><error code=...>``
  (or its JSON form ``{"error": {"code", "summary", "detail"}}``) whose code starts with the
  status, and never a traceback;
* the server keeps answering (checked after every batch by the fuzz conftest).

A 5xx fails with the server's own log lines for that request (``action=request_failed ...
where=file:line``, or a traceback), so the finding says where the code broke.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import httpx

from tests.support.server import ServerProcess

_TS = "{http://tableau.com/api}"
#: Statuses whose answers are not ours to shape (a redirect, or no body by definition).
_BODYLESS = frozenset({204, 304})


@dataclass
class Sent:
    """One fuzzed request as a person would read it in a failure."""

    method: str
    path: str
    summary: str

    def __str__(self) -> str:
        return f"{self.method} {self.path} {self.summary}"[:2000]


def error_of(response: httpx.Response) -> tuple[str, str] | None:
    """``(code, dialect)`` of a documented error body, or ``None`` if the body is not one."""
    kind = response.headers.get("content-type", "")
    if "json" in kind:
        try:
            body = json.loads(response.content)
        except ValueError:
            return None
        error = body.get("error") if isinstance(body, dict) else None
        fields = ("code", "summary", "detail")
        if isinstance(error, dict) and all(isinstance(error.get(f), str) for f in fields):
            return error["code"], "json"
        return None
    if "xml" in kind:
        try:
            root = ET.fromstring(response.content)
        except ET.ParseError:
            return None
        node = root.find(f"{_TS}error")
        if (
            root.tag == f"{_TS}tsResponse"
            and node is not None
            and node.get("code")
            and node.find(f"{_TS}summary") is not None
            and node.find(f"{_TS}detail") is not None
        ):
            return str(node.get("code")), "xml"
    return None


class Referee:
    """Judges answers against the properties and quotes the server's log for a 5xx."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.requests = 0

    def send(self, client: httpx.Client, request: httpx.Request, sent: Sent) -> httpx.Response:
        """Send ``request`` and judge its answer (the body is read in full)."""
        mark = len(self.server.output)
        self.requests += 1
        try:
            response = client.send(request)
        except httpx.TransportError as exc:
            raise AssertionError(
                f"the server dropped the connection ({exc!r}) on {sent}\n{self.log_since(mark)}"
            ) from exc
        self.judge(response, sent, mark)
        return response

    def log_since(self, mark: int) -> str:
        # The log line may land a moment after the answer; this is only for the message.
        return "".join(self.server.output[mark:])[-6000:]

    def judge(self, response: httpx.Response, sent: Sent, mark: int) -> None:
        status = response.status_code
        assert status < 500, (
            f"{status} on {sent}\nanswer: {response.text[:500]}\nserver log:\n{self.log_since(mark)}"
        )
        assert "Traceback (most recent call last)" not in response.text, f"traceback on {sent}"
        if status >= 400:
            found = error_of(response)
            assert found is not None, (
                f"{status} without the documented error envelope on {sent}: "
                f"{response.headers.get('content-type')} {response.text[:300]!r}"
            )
            code, _ = found
            assert code.startswith(str(status)), f"code {code} on a {status} answer to {sent}"
