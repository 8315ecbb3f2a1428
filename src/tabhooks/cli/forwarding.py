"""What ``tabhooks listen --forward URL`` may send to the local app, and where.

Anybody who knows a bin's URL can post to it, so a captured request is untrusted input for
the forward: it must not reach more of the developer's app than the forward URL itself. A
request is forwarded only when

* it is a POST (webhooks are POSTs; the server's own replay sends nothing else), and
* its path below the bin stays below the forward URL's path: ``.`` and ``..`` segments are
  resolved and one that climbs above the forward URL refuses the request, and so does
  anything a server further on might read as a separator or a dot segment (a backslash,
  ``%2F``, ``%2e%2e``, ``%252e``…) or a control character.

The path is sent as the bin received it (each segment percent-encoded again), and the
headers lose credentials and hop-by-hop fields (:mod:`tabhooks.forwarded_headers`, the
definition the server's replay uses too).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import httpx

from tabhooks.forwarded_headers import forwardable

#: The only method forwarded.
FORWARDED_METHODS = frozenset({"POST"})
#: Characters kept as they are in a path segment (RFC 3986 ``pchar`` minus ``%``).
_SEGMENT_SAFE = "!$&'()*+,;=:@-._~"
#: Characters kept in the query: ``%`` too, since the bin stores the query undecoded.
_QUERY_SAFE = "!$&'()*+,;=:@/?%-._~"
#: Decoding rounds that a segment is checked through (``%25252e`` and deeper are refused).
_DECODE_ROUNDS = 3
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class NotForwarded(ValueError):
    """A captured request this command will not send on; the message says why."""


def _decodes_further(segment: str) -> str:
    """``segment`` percent-decoded until it stops changing (bounded)."""
    for _ in range(_DECODE_ROUNDS):
        decoded = unquote(segment)
        if decoded == segment:
            return segment
        segment = decoded
    raise NotForwarded("the path is percent-encoded more than three times over")


def segments_below(path: str) -> list[str]:
    """The captured path's segments once ``.`` and ``..`` are resolved.

    Args:
        path: The path below the bin as the bin recorded it (already percent-decoded once
            by the server that captured it).

    Raises:
        NotForwarded: The path climbs above its start, or holds something a server further
            on could read as a separator, a dot segment or a control.
    """
    if "\\" in path:
        raise NotForwarded("the path holds a backslash")
    kept: list[str] = []
    for segment in path.split("/"):
        if _CONTROL.search(segment):
            raise NotForwarded("the path holds control characters")
        if segment in ("", "."):
            continue
        if segment == "..":
            if not kept:
                raise NotForwarded("the path climbs above the forward URL")
            kept.pop()
            continue
        further = _decodes_further(segment)
        if further != segment and (
            any(c in further for c in "/\\") or further.split(";", 1)[0].strip(".") == ""
        ):
            raise NotForwarded("the path holds an encoded separator or dot segment")
        if _CONTROL.search(further) or segment.split(";", 1)[0] in (".", ".."):
            raise NotForwarded("the path holds an encoded control or dot segment")
        kept.append(segment)
    return kept


def target(base: str, request: dict[str, Any]) -> str:
    """``base`` plus the captured path below the bin and the captured query.

    Args:
        base: The forward URL (``http(s)://host[:port]/path[?query]``), trusted.
        request: The inbox API's request object (``path``, ``query``).

    Raises:
        NotForwarded: The path would leave ``base`` (see :func:`segments_below`).
    """
    captured = str(request.get("path") or "")
    kept = segments_below(captured)
    parts = urlsplit(base)
    path = parts.path
    if kept:
        path = path.rstrip("/") + "/" + "/".join(quote(s, safe=_SEGMENT_SAFE) for s in kept)
        if captured.endswith("/"):
            path += "/"
    query = "&".join(
        q for q in (parts.query, quote(str(request.get("query") or ""), safe=_QUERY_SAFE)) if q
    )
    url = urlunsplit((parts.scheme, parts.netloc, path, query, ""))
    _check_below(base, url)
    return url


def _check_below(base: str, url: str) -> None:
    """Refuse ``url`` unless it is ``base``'s origin with a path at or below ``base``'s.

    :func:`target` builds only such URLs; this reads them back the way the HTTP client will
    (which resolves dot segments), so a gap in that reasoning refuses instead of forwarding.
    """
    want, got = httpx.URL(base), httpx.URL(url)
    prefix = want.path.rstrip("/")
    same_origin = (want.scheme, want.host, want.port) == (got.scheme, got.host, got.port)
    below = got.path == want.path or got.path.startswith(prefix + "/")
    if not (same_origin and below):
        raise NotForwarded("the path would leave the forward URL")


def headers(request: dict[str, Any]) -> list[tuple[str, str]]:
    """The captured headers to send on: no credentials, no hop-by-hop fields."""
    return forwardable((str(k), str(v)) for k, v in request.get("headers") or ())


def check_method(request: dict[str, Any]) -> None:
    """Refuse every method but POST.

    Raises:
        NotForwarded: The request is not a POST.
    """
    method = str(request.get("method") or "")
    if method.upper() not in FORWARDED_METHODS:
        raise NotForwarded(f"only POST requests are forwarded, not {method or 'this one'}")
