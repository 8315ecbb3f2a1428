"""Which headers a bin may answer with: an allow-list of harmless ones.

A bin's answer is served from tabhooks' own origin, to whoever posts to it — and a bin URL is
shared and opened in browsers. A deny-list of dangerous headers is always one header short
(``Refresh``, ``Clear-Site-Data``, ``Set-Cookie``, ``Link: rel=stylesheet``,
``WWW-Authenticate``, ``Access-Control-*``, ``X-Accel-Redirect`` behind nginx, …), so a bin may
choose only headers a sender under test has a reason to read and no browser or proxy acts on:
the body's type and language, retry and rate-limit hints, caching validators, ``Allow``,
deprecation notices, and custom ``X-*`` headers that are not one of the few security-relevant
``X-`` names. ``Location`` is allowed so redirects can be tested, but only to a relative URL or
to this server's own origin: a bin must not turn tabhooks into an open redirect.

The rules are checked when a bin's answer is configured (the API and the dashboard answer 400
naming the header) and again when the answer is sent, so a bin stored before a rule existed
cannot send what the rule now refuses.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from urllib.parse import urlsplit

from tabhooks.hosts import origin

#: At most this many chosen headers per bin.
MAX_HEADERS = 20
#: Longest chosen header value.
VALUE_MAX_CHARS = 1024

#: Chosen headers a bin may answer with (lower case), besides ``X-*`` (see :func:`refusal`).
ALLOWED = frozenset(
    {
        "allow",
        "cache-control",
        "content-language",
        "content-type",
        "deprecation",
        "etag",
        "expires",
        "last-modified",
        "location",
        "ratelimit",
        "ratelimit-limit",
        "ratelimit-policy",
        "ratelimit-remaining",
        "ratelimit-reset",
        "retry-after",
        "sunset",
        "vary",
    }
)
#: ``X-`` headers that browsers or reverse proxies act on, or that tabhooks sets itself.
_X_REFUSED = frozenset(
    {
        "x-content-security-policy",
        "x-content-type-options",
        "x-dns-prefetch-control",
        "x-download-options",
        "x-frame-options",
        "x-permitted-cross-domain-policies",
        "x-real-ip",
        "x-sendfile",
        "x-lighttpd-send-file",
        "x-ua-compatible",
        "x-webkit-csp",
        "x-xss-protection",
    }
)
#: ``X-`` prefixes acted on by proxies (nginx ``X-Accel-Redirect``, LiteSpeed) or ours.
_X_REFUSED_PREFIXES = ("x-accel-", "x-forwarded-", "x-litespeed-", "x-tabhooks-")
_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$")
#: Characters no Location may hold: controls and spaces (browsers strip or fold them, so
#: `` //evil`` or ``/\\evil`` become another host) and backslashes (read as ``/``).
_LOCATION_BAD = re.compile(r"[\x00-\x20\x7f\\]")


def refusal(name: str, value: str, origins: Collection[str]) -> str | None:
    """Why the header ``name: value`` may not be chosen, or ``None`` when it may.

    Args:
        name: The header name, in any case.
        value: Its value.
        origins: This server's origins (``scheme://host[:port]``), the only absolute
            targets ``Location`` may name.
    """
    if not _NAME.match(name):
        return f"'{name}' is not a valid header name."
    if any(ch in value for ch in "\r\n\0") or len(value) > VALUE_MAX_CHARS:
        return f"The value of header '{name}' is invalid or longer than {VALUE_MAX_CHARS}."
    lowered = name.lower()
    if lowered == "location":
        return _location_refusal(value, origins)
    if lowered in ALLOWED:
        return None
    if (
        lowered.startswith("x-")
        and lowered not in _X_REFUSED
        and not lowered.startswith(_X_REFUSED_PREFIXES)
    ):
        return None
    return (
        f"The header '{name}' cannot be chosen: a bin answers only with headers no browser or "
        f"proxy acts on ({', '.join(sorted(ALLOWED))} and most X- headers)."
    )


def _location_refusal(value: str, origins: Collection[str]) -> str | None:
    refused = (
        f"Location '{value}' is refused: a bin redirects only to a relative URL "
        "(e.g. /inbox/bin_…/next) or to this server's own origin"
    )
    if not value or _LOCATION_BAD.search(value):
        return refused + "."
    try:
        parts = urlsplit(value)
    except ValueError:
        return refused + "."
    if not parts.scheme and not parts.netloc:
        return None
    target = origin(value)
    if target is not None and target in origins:
        return None
    return refused + (f" ({', '.join(sorted(origins))})." if origins else ".")


def problems(headers: Mapping[str, str], origins: Collection[str]) -> list[str]:
    """Every reason ``headers`` may not be a bin's chosen headers (empty when they may)."""
    found = [] if len(headers) <= MAX_HEADERS else [f"At most {MAX_HEADERS} headers."]
    found += [r for n, v in headers.items() if (r := refusal(n, v, origins)) is not None]
    return found


def allowed(
    headers: Mapping[str, str], origins: Collection[str]
) -> tuple[dict[str, str], list[str]]:
    """The headers of ``headers`` that may be sent, and the names of those that may not."""
    kept: dict[str, str] = {}
    dropped: list[str] = []
    for name, value in headers.items():
        if refusal(name, value, origins) is None:
            kept[name] = value
        else:
            dropped.append(name)
    return kept, dropped
