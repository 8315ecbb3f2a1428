"""Which ``Host`` headers the server answers, and what "this server's origin" is.

Links the server hands out — a bin's ``url`` and ``ui_url``, a relay message's Open button, a
workbook's ``webpageUrl`` — are built from ``TABHOOKS_PUBLIC_URL`` when it is set and from the
request otherwise, so an unchecked ``Host: evil.example`` would make the server hand out links
to someone else's site (and lets a DNS-rebinding page talk to a server on localhost). The app
therefore answers only the hosts :func:`allowed_hosts` lists (:class:`HostCheck`, in the
app's request guard; any other gets 400): the loopback names, the public URL's host, the
address ``tabhooks serve`` binds when it is a specific one, and ``TABHOOKS_ALLOWED_HOSTS``.

Host names are compared as Starlette parses the header: lower case, without the port, IPv6
literals in brackets (``[::1]``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from starlette._utils import parse_host_header

if TYPE_CHECKING:
    from tabhooks.config import Settings

#: Always answered: a server is always reachable as itself from its own machine.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
#: Bind addresses that mean "every interface": they name no host a client would send.
WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::", "*"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_NAME = re.compile(r"^(\*\.)?[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?$")


def host_pattern(value: str) -> str:
    """``value`` as :class:`HostCheck` compares it; ``ValueError`` if it is not a host.

    Args:
        value: A host name, an IP address (IPv6 with or without brackets), ``*.domain``
            or ``*``.
    """
    host = value.strip().lower().rstrip(".")
    if host == "*":
        return host
    literal = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        address = ipaddress.ip_address(literal)
    except ValueError:
        if not _NAME.match(host):
            raise ValueError(
                f"not a host name, an IP address, '*.domain' or '*': {value!r}"
            ) from None
        return host
    return f"[{address.compressed}]" if address.version == 6 else address.compressed


def bound_host(bind_address: str) -> str | None:
    """The host a client names to reach ``bind_address``, or ``None`` for a wildcard bind."""
    stripped = bind_address.strip().strip("[]")
    if stripped in WILDCARD_BINDS:
        return None
    try:
        return host_pattern(stripped)
    except ValueError:
        return None


def allowed_hosts(settings: Settings) -> list[str]:
    """Every ``Host`` the app answers, in order: loopback, public URL, bound address, chosen."""
    found = list(LOOPBACK_HOSTS)
    if settings.public_url:
        public = urlsplit(settings.public_url).hostname
        if public:
            found.append(host_pattern(public))
    bound = bound_host(settings.host)
    if bound:
        found.append(bound)
    found.extend(settings.allowed_hosts)
    return list(dict.fromkeys(found))


class HostCheck:
    """Whether a ``Host`` header names one of the allowed hosts, as Starlette decides it.

    The test is Starlette's ``TrustedHostMiddleware``'s: the header parsed by
    the same function (``starlette._utils.parse_host_header``: the port dropped, IPv6 literals
    kept in brackets, malformed headers refused), lower-cased, then equal to a pattern or, for
    ``*.domain``, ending in ``.domain``; ``*`` allows anything (tests/unit/test_hosts.py holds
    the two to the same answers). What differs is that it is not a middleware of its own but
    one step of the app's request guard, and that each header value's answer is remembered:
    clients send the same ``Host`` on every request, so a check is a dict lookup instead of
    a ``Headers`` object, a regular expression and a loop (3 µs of a Get Webhook's ~8 µs of
    middleware; see docs/performance.md, "REST API per-request layers").

    Args:
        allowed: Patterns as :func:`allowed_hosts` returns them.
        memo_size: Answers remembered; all are dropped when full, so a client sending a new
            ``Host`` on every request costs memory of ``memo_size`` entries at most.
    """

    def __init__(self, allowed: Sequence[str], memo_size: int = 256) -> None:
        patterns = [pattern.lower() for pattern in allowed]
        for pattern in patterns:
            wildcard = pattern.startswith("*") and pattern != "*"
            if "*" in pattern[1:] or (wildcard and not pattern.startswith("*.")):
                raise ValueError(f"domain wildcards must be like '*.example.com': {pattern!r}")
        self.allow_any = "*" in patterns
        self._exact = frozenset(p for p in patterns if not p.startswith("*"))
        self._suffixes = tuple(p[1:] for p in patterns if p.startswith("*."))
        self._memo_size = memo_size
        self._memo: dict[bytes, bool] = {}

    def allows(self, header: bytes | None) -> bool:
        """Whether the raw ``Host`` header value (``None``: none sent) is answered."""
        if self.allow_any:
            return True
        if header is None:
            return False
        known = self._memo.get(header)
        if known is None:
            known = self._judge(header.decode("latin-1"))
            if len(self._memo) >= self._memo_size:
                self._memo.clear()
            self._memo[header] = known
        return known

    def _judge(self, value: str) -> bool:
        parsed = parse_host_header(value)
        if parsed is None:
            return False
        host = parsed.host.lower()
        return host in self._exact or (bool(self._suffixes) and host.endswith(self._suffixes))


def wildcard_bind(settings: Settings) -> bool:
    """True when ``tabhooks serve`` listens on every interface (``0.0.0.0``, ``::``)."""
    return bound_host(settings.host) is None


def origin(url: str) -> str | None:
    """``scheme://host[:port]`` of an http(s) URL (default port dropped), or ``None``."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    shown_port = f":{port}" if port is not None and port != _DEFAULT_PORTS[scheme] else ""
    return f"{scheme}://{host}{shown_port}"


def server_origins(public_url: str | None, request_base: str) -> frozenset[str]:
    """This server's origins as a request sees them: the public URL's and the request's own.

    The request's own origin can be trusted because the app answers only allowed hosts.

    Args:
        public_url: ``TABHOOKS_PUBLIC_URL``, if set.
        request_base: The request's base URL (``str(request.base_url)``).
    """
    found = {origin(url) for url in (public_url or "", request_base)}
    return frozenset(o for o in found if o is not None)
