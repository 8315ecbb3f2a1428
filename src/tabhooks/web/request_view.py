"""What the bin page's detail pane derives from one captured request: its URL, a form body's
fields, and a ``curl`` command that sends it again.

Kept apart from the templates so the rules (which requests are "simple" enough for a curl
line, which headers a copy leaves out) are plain functions with unit tests. Everything here
is text for the templates to escape: a captured request is written by whoever posted it.
"""

from __future__ import annotations

import re
import shlex
from urllib.parse import parse_qsl

from tabhooks.inbox.inspection import Captured

#: Bodies larger than this get no "copy as curl": a command line that long helps nobody.
CURL_MAX_BODY_BYTES = 64 * 1024
#: Headers a new request makes for itself (curl sets them, or they describe one connection).
_LEFT_OUT = frozenset(
    {
        "host",
        "content-length",
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
        "accept-encoding",
    }
)
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
FORM_TYPE = "application/x-www-form-urlencoded"


def capture_url(base: str, item: Captured) -> str:
    """The URL the request was sent to, as this server names it (``base`` is its root)."""
    path = "/" + item.path.lstrip("/") if item.path else ""
    query = f"?{item.query}" if item.query else ""
    return f"{base}/inbox/{item.bin_id}{path}{query}"


def form_fields(item: Captured) -> list[tuple[str, str]] | None:
    """A URL-encoded form body's fields, in order; ``None`` when the body is not one."""
    if item.content_type != FORM_TYPE or item.truncated:
        return None
    text = item.body_text
    if text is None:
        return None
    return parse_qsl(text, keep_blank_values=True)


def as_curl(base: str, item: Captured) -> str | None:
    """A ``curl`` command sending the same method, headers and body to the same URL.

    ``None`` when the request is not simple enough to be one readable, faithful command: a
    body cut short on capture, not UTF-8 text, larger than :data:`CURL_MAX_BODY_BYTES` or
    holding a NUL (no shell argument can), or a method that is not an HTTP token. Every
    argument is quoted for a POSIX shell, so a hostile header or body stays one argument.
    """
    if item.truncated or len(item.body) > CURL_MAX_BODY_BYTES or not _TOKEN.fullmatch(item.method):
        return None
    body = item.body_text
    if body is None or "\0" in body:
        return None
    if any("\0" in name or "\0" in value for name, value in item.headers):
        return None
    parts = ["curl", "-X", item.method, shlex.quote(capture_url(base, item))]
    for name, value in item.headers:
        if name.lower() not in _LEFT_OUT:
            parts += ["-H", shlex.quote(f"{name}: {value}")]
    if item.body:
        parts += ["--data-raw", shlex.quote(body)]
    return " \\\n  ".join(_pairs(parts))


def _pairs(parts: list[str]) -> list[str]:
    """The command's words, a flag and its value on one line each after the URL."""
    head, rest = " ".join(parts[:4]), parts[4:]
    return [head, *(f"{rest[i]} {rest[i + 1]}" for i in range(0, len(rest), 2))]
