"""Where the server may connect: the https rule, the SSRF guard, and the one guarded client.

A webhook URL, a relay target, a replay URL and a relay route's enrichment server are all
chosen by users of the API, but the requests are sent from inside our network, so an unguarded
client is a proxy into it (cloud metadata at 169.254.169.254, admin consoles on 10.x, the
database on localhost). Everything the server sends out goes through :func:`guarded_session`,
and the guard runs at three points:

* :func:`check_url` when a destination is saved (and again before every send): the URL must
  be absolute https without credentials, and a host written as an IP literal must be public.
  No DNS is done here, since an answer given now proves nothing about the answer the sender
  gets later.
* :class:`GuardedConnector`, the connector of every outgoing session, each time it opens a
  connection: the request's URL is checked again (scheme, loopback names, IP literals), and
  every address the host resolves to — or the literal itself — must be allowed. Checking the
  addresses the socket is actually opened to is what defeats DNS rebinding (a name that
  resolves to a public address at create time and to 127.0.0.1 at send time), and checking
  them in the connector rather than only in the resolver is what covers IP literals, which
  aiohttp never hands to a resolver. Pooled connections are reused only for the same scheme,
  host and port, so every hop that reaches a new host is checked.
* :func:`redirect_target` for the one client that follows redirects (relay enrichment, a
  REST API behind a load balancer): the ``Location`` is checked like a destination before it
  is followed, and https never leads to http. Nothing else follows redirects: every request is
  sent with ``allow_redirects=False``, and a delivery's 3xx is its answer, as on Tableau.

The address table is our own (not :attr:`ipaddress.IPv4Address.is_global`), because the
standard library's idea of "private" changed between Python patch releases and a security
boundary should not move with the interpreter.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from tabhooks.errors import TabhooksError

if TYPE_CHECKING:
    from aiohttp.client_proto import ResponseHandler
    from aiohttp.client_reqrep import ClientRequest
    from aiohttp.tracing import Trace

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Longest host name DNS can carry (RFC 1035 §2.3.4, without the trailing dot).
HOSTNAME_MAX_CHARS = 253

#: A DNS label as it appears on the wire after IDNA encoding. Underscores are tolerated
#: because internal names use them and getaddrinfo resolves them.
_LABEL_RE = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")

#: A last label that makes a browser or libc read the whole host as an IPv4 number
#: ("2130706433", "0x7f.1", "127.1"); such hosts must be canonical dotted quads or nothing.
_NUMERIC_LABEL_RE = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)$")


def _net(cidr: str) -> IPNetwork:
    return ipaddress.ip_network(cidr)


#: IPv4 ranges no webhook may reach, most specific first so the reason names the real
#: purpose of the range (255.255.255.255 is "broadcast", not "reserved").
_BLOCKED_V4: tuple[tuple[IPNetwork, str], ...] = (
    (_net("255.255.255.255/32"), "broadcast address"),
    (_net("0.0.0.0/8"), "unspecified address ('this network')"),
    (_net("10.0.0.0/8"), "private address (RFC 1918)"),
    (_net("100.64.0.0/10"), "carrier-grade NAT address (RFC 6598)"),
    (_net("127.0.0.0/8"), "loopback address"),
    (_net("169.254.0.0/16"), "link-local address (includes cloud metadata)"),
    (_net("172.16.0.0/12"), "private address (RFC 1918)"),
    (_net("192.0.0.0/24"), "reserved address (IETF protocol assignments)"),
    (_net("192.0.2.0/24"), "documentation address (TEST-NET-1)"),
    (_net("192.88.99.0/24"), "reserved address (6to4 relay anycast)"),
    (_net("192.168.0.0/16"), "private address (RFC 1918)"),
    (_net("198.18.0.0/15"), "benchmarking address (RFC 2544)"),
    (_net("198.51.100.0/24"), "documentation address (TEST-NET-2)"),
    (_net("203.0.113.0/24"), "documentation address (TEST-NET-3)"),
    (_net("224.0.0.0/4"), "multicast address"),
    (_net("240.0.0.0/4"), "reserved address"),
)

#: IPv6 ranges no webhook may reach. Ranges that embed an IPv4 address (mapped, 6to4, NAT64)
#: are not here: :func:`_embedded_v4` unwraps them and the IPv4 table decides.
_BLOCKED_V6: tuple[tuple[IPNetwork, str], ...] = (
    (_net("::/128"), "unspecified address"),
    (_net("::1/128"), "loopback address"),
    (_net("64:ff9b:1::/48"), "local-use NAT64 address (RFC 8215)"),
    (_net("100::/64"), "discard-only address (RFC 6666)"),
    (_net("2001::/32"), "Teredo tunnel address"),
    (_net("2001:db8::/32"), "documentation address"),
    (_net("2001::/23"), "reserved address (IETF protocol assignments)"),
    (_net("3fff::/20"), "documentation address (RFC 9637)"),
    (_net("5f00::/16"), "SRv6 segment identifier (RFC 9602)"),
    (_net("fc00::/7"), "unique-local (private) address"),
    (_net("fe80::/10"), "link-local address"),
    (_net("fec0::/10"), "site-local address (deprecated)"),
    (_net("ff00::/8"), "multicast address"),
)

#: Everything routable on the IPv6 internet lies here today; the rest is unassigned or
#: special-purpose, so it is refused without needing a row in the table above.
_GLOBAL_UNICAST_V6 = _net("2000::/3")
_NAT64_V6 = _net("64:ff9b::/96")


class BlockedDestination(TabhooksError, OSError):
    """The destination is not allowed: wrong scheme, bad URL, or an internal address.

    It is an :class:`OSError` so that, raised from inside aiohttp's resolver, aiohttp treats it
    like any resolution failure (wrapping it in ``ClientConnectorDNSError``) instead of
    letting an unknown exception escape its connection pool; the sender finds it again in the
    exception chain and records the attempt as blocked.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


class DestinationSettings(Protocol):
    """The part of :class:`tabhooks.config.Settings` the guard reads (tests pass a stand-in)."""

    @property
    def http_destinations_allowed(self) -> bool: ...

    @property
    def private_destinations_allowed(self) -> bool: ...

    @property
    def allowed_destination_cidrs(self) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class DestinationPolicy:
    """Which destinations are acceptable; the defaults are Tableau's (public https only).

    Args:
        allow_http: Accept ``http://`` URLs (development, or receivers on a trusted network).
        allow_private: Accept every address, internal ones included (development mode).
        allowed_cidrs: Internal ranges accepted even when ``allow_private`` is off, for
            deployments whose receivers legitimately live on a private network.
    """

    allow_http: bool = False
    allow_private: bool = False
    allowed_cidrs: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_settings(cls, settings: DestinationSettings) -> DestinationPolicy:
        """Build the policy from settings, which have already validated the CIDRs."""
        return cls(
            allow_http=settings.http_destinations_allowed,
            allow_private=settings.private_destinations_allowed,
            allowed_cidrs=tuple(
                ipaddress.ip_network(cidr, strict=False)
                for cidr in settings.allowed_destination_cidrs
            ),
        )


#: The policy used when none is given: https only, public addresses only.
STRICT_POLICY = DestinationPolicy()


def check_url(url: str, policy: DestinationPolicy = STRICT_POLICY) -> None:
    """Refuse a destination URL that can never be sent to under ``policy``.

    Args:
        url: The destination as the user wrote it.
        policy: What this deployment accepts.

    Raises:
        BlockedDestination: With a reason a user can act on.
    """
    parse_destination(url, policy)


def parse_destination(url: str | URL, policy: DestinationPolicy = STRICT_POLICY) -> URL:
    """Check ``url`` like :func:`check_url` and return it parsed.

    The sender sends the very :class:`yarl.URL` object that was checked, so the guard and
    aiohttp can never disagree about which host a string names.

    Args:
        url: The destination as the user wrote it, or an already parsed URL (the connector
            checks the URL of the request it is about to connect for).
        policy: What this deployment accepts.

    Returns:
        The parsed URL.

    Raises:
        BlockedDestination: With a reason a user can act on.
    """
    if isinstance(url, URL):
        parsed = url
    else:
        try:
            parsed = URL(url)
        except (ValueError, TypeError) as exc:  # yarl refuses bad ports, backslashes, bad IDNA
            raise BlockedDestination(f"invalid URL: {exc}") from exc
    if not parsed.scheme:
        raise BlockedDestination("URL must be absolute (scheme://host/...)")
    if parsed.scheme != "https" and not (policy.allow_http and parsed.scheme == "http"):
        allowed = "https or http" if policy.allow_http else "https"
        raise BlockedDestination(f"URL scheme must be {allowed}, not {parsed.scheme!r}")
    if not parsed.is_absolute():
        raise BlockedDestination("URL must be absolute (scheme://host/...)")
    if parsed.raw_user is not None or parsed.raw_password is not None:
        raise BlockedDestination("URL must not contain a user name or password")
    host = parsed.raw_host
    if not host:
        raise BlockedDestination("URL has no host")
    address = host_address(host)
    if address is not None:
        reason = is_blocked_address(address, policy)
        if reason is not None:
            raise BlockedDestination(f"destination {host} is not allowed: {reason}")
    elif _is_loopback_name(host) and not policy.allow_private:
        # RFC 6761: these names always mean this machine; refuse them before any DNS.
        raise BlockedDestination(f"destination {host} is not allowed: loopback name")
    return parsed


def _is_loopback_name(host: str) -> bool:
    name = host.lower().rstrip(".")
    return name == "localhost" or name.endswith(".localhost")


def host_address(host: str) -> IPAddress | None:
    """Return the address an IP-literal host names, or ``None`` for a valid host name.

    Raises:
        BlockedDestination: The host is neither a canonical IP literal nor a valid DNS name.
    """
    host = host.lower()
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    name = host.removesuffix(".")
    labels = name.split(".")
    if _NUMERIC_LABEL_RE.match(labels[-1]):
        # Legacy spellings such as 2130706433 or 0x7f.1 mean 127.0.0.1 to getaddrinfo.
        raise BlockedDestination(f"{host} is not a canonical IP address")
    if len(name) > HOSTNAME_MAX_CHARS or not all(_LABEL_RE.match(label) for label in labels):
        raise BlockedDestination(f"{host!r} is not a valid host name")
    return None


def is_blocked_address(
    address: IPAddress | str, policy: DestinationPolicy = STRICT_POLICY
) -> str | None:
    """Say why ``address`` must not be connected to, or return ``None`` if it may be.

    Args:
        address: An IP address; a string may carry an IPv6 zone (``fe80::1%eth0``).
        policy: ``allow_private`` accepts everything; ``allowed_cidrs`` accept their ranges.

    Returns:
        A short reason such as ``"loopback address"``, or ``None``.
    """
    if policy.allow_private:
        return None
    ip = _strip_zone(ipaddress.ip_address(address) if isinstance(address, str) else address)
    if _in_any(ip, policy.allowed_cidrs):
        return None
    if isinstance(ip, ipaddress.IPv4Address):
        return _table_reason(ip, _BLOCKED_V4)
    embedded = _embedded_v4(ip)
    if embedded is not None:
        reason = is_blocked_address(embedded, policy)
        return None if reason is None else f"{reason} embedded in IPv6 {ip}"
    reason = _table_reason(ip, _BLOCKED_V6)
    if reason is None and ip not in _GLOBAL_UNICAST_V6:
        reason = "reserved address (outside IPv6 global unicast)"
    return reason


def _strip_zone(ip: IPAddress) -> IPAddress:
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
        return ipaddress.IPv6Address(int(ip))
    return ip


def _in_any(ip: IPAddress, networks: Iterable[IPNetwork]) -> bool:
    return any(ip.version == net.version and ip in net for net in networks)


def _table_reason(ip: IPAddress, table: tuple[tuple[IPNetwork, str], ...]) -> str | None:
    for network, reason in table:
        if ip in network:
            return reason
    return None


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """Unwrap the IPv4 address that IPv4-mapped, 6to4 and NAT64 addresses are routed to.

    These forms reach an IPv4 host, so the IPv4 host is what must be judged: ``::ffff:7f00:1``
    is loopback however it is spelled.
    """
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64_V6:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


class GuardedResolver(AbstractResolver):
    """An aiohttp resolver that refuses names resolving to any blocked address.

    One internal answer among public ones blocks the whole name: aiohttp may try every
    address it is given, and a name that mixes public and internal addresses is exactly what
    a rebinding attack looks like.

    Args:
        policy: What this deployment accepts.
        inner: The resolver that does the lookup; aiohttp's default (getaddrinfo in a thread)
            when omitted. Tests inject a fake one to simulate any DNS answer.
    """

    def __init__(self, policy: DestinationPolicy, inner: AbstractResolver | None = None) -> None:
        self.policy = policy
        self._inner = inner
        self._owns_inner = inner is None

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """Resolve ``host`` and check every answer.

        Raises:
            BlockedDestination: An answer is an address the policy refuses.
            OSError: The lookup itself failed (``socket.gaierror``), as aiohttp expects.
        """
        if self._inner is None:
            # Created lazily: aiohttp's resolvers bind to the running loop at construction.
            self._inner = DefaultResolver()
        results = await self._inner.resolve(host, port, family)
        for result in results:
            reason = is_blocked_address(result["host"], self.policy)
            if reason is not None:
                raise BlockedDestination(
                    f"destination {host} resolves to {result['host']}, which is not allowed: "
                    f"{reason}"
                )
        return results

    async def close(self) -> None:
        """Close the inner resolver if this object created it."""
        if self._inner is not None and self._owns_inner:
            await self._inner.close()


#: Statuses whose ``Location`` a client may follow (RFC 9110 §15.4).
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


def redirect_target(current: URL, location: str, policy: DestinationPolicy) -> URL:
    """Check the ``Location`` of a redirect answered to ``current`` before following it.

    The target is judged like any destination (scheme, credentials, IP literal, loopback
    name); its addresses are judged again by :class:`GuardedConnector` when it is connected
    to. A redirect from https to anything else is refused even where http is allowed, because
    the request it repeats may carry a session token that must not travel in clear text.

    Args:
        current: The URL that answered with the redirect.
        location: The ``Location`` header as received (relative references are resolved).
        policy: What this deployment accepts.

    Returns:
        The URL to request next.

    Raises:
        BlockedDestination: The redirect must not be followed; the reason names the target.
    """
    try:
        target = current.join(URL(location))
    except (ValueError, TypeError) as exc:
        raise BlockedDestination(f"redirect to an invalid URL: {exc}") from exc
    if current.scheme == "https" and target.scheme != "https":
        raise BlockedDestination(f"redirect from https to {target.scheme}: {target}")
    try:
        return parse_destination(target, policy)
    except BlockedDestination as exc:
        raise BlockedDestination(f"redirect refused: {exc}") from exc


#: How long an idle pooled connection is kept for its next request. Shorter than the 5 s
#: after which uvicorn (so ``tabhooks serve`` itself), Node.js and Apache close an idle
#: connection: kept past that, a request could be written just as the receiver closes the
#: connection, and fail as ``reset`` though the receiver is healthy (aiohttp, rightly, retries
#: only idempotent methods on a connection that closed under it, and deliveries POST).
IDLE_CONNECTION_S = 4.0


class GuardedConnector(aiohttp.TCPConnector):
    """aiohttp's TCP connector, checking every connection it opens against ``policy``.

    Two of aiohttp's hooks are extended, both called only when a new connection is opened (a
    pooled one is reused only for the scheme, host and port it was checked for), so the guard
    costs nothing per request on a kept-alive connection:

    * ``_create_connection`` checks the request's URL (:func:`parse_destination`): whatever
      URL a request carries — the first one or a redirect's — is judged before any socket.
    * ``_resolve_host`` checks every address the host resolves to, and the literal itself
      when the host is an IP address, which aiohttp never passes to a resolver.

    These are aiohttp internals; ``tests/unit/delivery/test_guard.py`` connects through the
    connector to a real loopback listener so that a change in aiohttp that bypasses them
    fails the suite instead of silently opening the guard.

    Args:
        policy: What this deployment accepts.
        inner_resolver: The DNS resolver to wrap (aiohttp's default when omitted); tests
            inject one to make any name resolve to any address.
        limit: Connections open at once, all hosts together.
        limit_per_host: Connections open at once to one host (0: no limit).
        idle_s: How long an idle connection is kept (see :data:`IDLE_CONNECTION_S`).
    """

    def __init__(
        self,
        policy: DestinationPolicy,
        *,
        inner_resolver: AbstractResolver | None = None,
        limit: int = 100,
        limit_per_host: int = 0,
        idle_s: float = IDLE_CONNECTION_S,
    ) -> None:
        self.policy = policy
        self._guarded_resolver = GuardedResolver(policy, inner_resolver)
        super().__init__(
            resolver=self._guarded_resolver,
            limit=limit,
            limit_per_host=limit_per_host,
            keepalive_timeout=idle_s,
            ssl=True,
        )

    async def _create_connection(
        self,
        req: ClientRequest,
        traces: list[Trace],
        timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 - aiohttp's signature
    ) -> ResponseHandler:
        parse_destination(req.url, self.policy)
        return await super()._create_connection(req, traces, timeout)

    async def _resolve_host(
        self, host: str, port: int, traces: Sequence[Trace] | None = None
    ) -> list[ResolveResult]:
        results = await super()._resolve_host(host, port, traces=traces)
        for result in results:
            reason = is_blocked_address(result["host"], self.policy)
            if reason is None:
                continue
            if result["host"] == host:
                raise BlockedDestination(f"destination {host} is not allowed: {reason}")
            raise BlockedDestination(
                f"destination {host} resolves to {result['host']}, which is not allowed: {reason}"
            )
        return results

    async def close(self, *, abort_ssl: bool = False) -> None:
        """Close the pooled connections, then the guard's resolver (and its inner one)."""
        await super().close(abort_ssl=abort_ssl)
        await self._guarded_resolver.close()


def guarded_session(
    policy: DestinationPolicy,
    *,
    timeout: aiohttp.ClientTimeout,
    limit: int,
    limit_per_host: int = 0,
    auto_decompress: bool = True,
    inner_resolver: AbstractResolver | None = None,
    idle_s: float = IDLE_CONNECTION_S,
) -> aiohttp.ClientSession:
    """A client session that reaches only what ``policy`` allows; the only way out.

    Everything the server sends (deliveries, Test Webhook, inbox replay, relay targets, relay
    enrichment) uses a session from here, so the settings that keep the guard effective live
    in one place: every connection is opened by a :class:`GuardedConnector`, TLS certificates
    are verified, no proxy is taken from the environment (a proxy would connect on our
    behalf, past the guard), and no cookies are kept (one receiver must not see another's).
    Callers pass ``allow_redirects=False`` on every request; the enricher follows redirects
    itself, each one checked by :func:`redirect_target`.

    Args:
        policy: What this deployment accepts.
        timeout: The session's timeouts.
        limit: Connections open at once.
        limit_per_host: Connections open at once to one host (0: no limit).
        auto_decompress: Decompress bodies (the sender keeps them as sent, so a small gzip
            bomb cannot grow unbounded).
        inner_resolver: See :class:`GuardedConnector`.
        idle_s: How long an idle connection is kept (see :data:`IDLE_CONNECTION_S`).
    """
    connector = GuardedConnector(
        policy,
        inner_resolver=inner_resolver,
        limit=limit,
        limit_per_host=limit_per_host,
        idle_s=idle_s,
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
        auto_decompress=auto_decompress,
    )
