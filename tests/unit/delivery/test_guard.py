"""The SSRF guard: URL rules, the address table and the connect-time resolver."""

from __future__ import annotations

import ipaddress
import socket
from types import SimpleNamespace

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from tabhooks.config import Settings
from tabhooks.delivery.guard import (
    STRICT_POLICY,
    BlockedDestination,
    DestinationPolicy,
    GuardedResolver,
    check_url,
    is_blocked_address,
    parse_destination,
    redirect_target,
)
from tabhooks.errors import TabhooksError

DEV_POLICY = DestinationPolicy(allow_http=True, allow_private=True)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("169.254.0.1", "link-local"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("100.127.255.255", "carrier-grade NAT"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "broadcast"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("198.18.0.1", "benchmarking"),
        ("198.19.255.255", "benchmarking"),
        ("192.0.2.1", "documentation"),
        ("198.51.100.7", "documentation"),
        ("203.0.113.9", "documentation"),
        ("192.0.0.8", "reserved"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fc00::1", "unique-local"),
        ("fd00:ec2::254", "unique-local"),
        ("fe80::1", "link-local"),
        ("fec0::1", "site-local"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback address embedded"),
        ("::ffff:169.254.169.254", "link-local address (includes cloud metadata) embedded"),
        ("::ffff:10.0.0.1", "private address (RFC 1918) embedded"),
        ("2002:7f00:1::", "loopback address embedded"),
        ("2002:a9fe:a9fe::1", "link-local address (includes cloud metadata) embedded"),
        ("64:ff9b::7f00:1", "loopback address embedded"),
        ("64:ff9b::a00:1", "private address (RFC 1918) embedded"),
        ("64:ff9b:1::1", "local-use NAT64"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
        ("2001:db8::1", "documentation"),
        ("3fff::1", "documentation"),
        ("100::1", "discard-only"),
        ("5f00::1", "SRv6"),
        ("::127.0.0.1", "reserved"),
        ("4000::1", "reserved"),
    ],
)
def test_is_blocked_address_internal_range_returns_reason(address: str, reason: str) -> None:
    result = is_blocked_address(address)
    assert result is not None
    assert reason in result


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.215.14",
        "172.32.0.1",
        "100.128.0.1",
        "2606:4700:4700::1111",
        "2a00:1450:4001:82a::200e",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::1",
    ],
)
def test_is_blocked_address_public_returns_none(address: str) -> None:
    assert is_blocked_address(address) is None


def test_is_blocked_address_accepts_address_objects() -> None:
    assert is_blocked_address(ipaddress.IPv4Address("127.0.0.1")) == "loopback address"
    assert is_blocked_address(ipaddress.IPv6Address("2606:4700:4700::1111")) is None


def test_is_blocked_address_zone_id_ignored_for_lookup() -> None:
    assert is_blocked_address("fe80::1%eth0") == "link-local address"


def test_is_blocked_address_allow_private_allows_everything() -> None:
    for address in ("127.0.0.1", "169.254.169.254", "::1", "0.0.0.0", "ff02::1"):
        assert is_blocked_address(address, DEV_POLICY) is None


def test_is_blocked_address_allowed_cidr_only_opens_that_range() -> None:
    policy = DestinationPolicy(allowed_cidrs=(ipaddress.ip_network("10.1.0.0/16"),))
    assert is_blocked_address("10.1.2.3", policy) is None
    assert is_blocked_address("::ffff:10.1.2.3", policy) is None
    assert is_blocked_address("10.2.0.1", policy) == "private address (RFC 1918)"
    assert is_blocked_address("127.0.0.1", policy) == "loopback address"


def test_is_blocked_address_allowed_v6_cidr_ignores_v4_addresses() -> None:
    policy = DestinationPolicy(allowed_cidrs=(ipaddress.ip_network("fd00::/8"),))
    assert is_blocked_address("fd00::5", policy) is None
    assert is_blocked_address("10.0.0.1", policy) is not None


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/hook",
        "https://example.com:8443/hook?x=1#frag",
        "https://sub_domain.example.com/",
        "https://bücher.example/",
        "https://8.8.8.8/",
        "https://[2606:4700:4700::1111]/",
        "https://example.com./",
        "HTTPS://EXAMPLE.COM/",
    ],
)
def test_check_url_public_https_accepted(url: str) -> None:
    check_url(url)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://example.com/", "scheme must be https"),
        ("ftp://example.com/", "scheme must be https"),
        ("file:///etc/passwd", "scheme must be https"),
        ("/relative/path", "absolute"),
        ("example.com/hook", "absolute"),
        ("https:///no-host", "absolute"),
        ("https://user:pw@example.com/", "user name or password"),
        ("https://user@example.com/", "user name or password"),
        ("https://:pw@example.com/", "user name or password"),
        ("https://127.0.0.1/", "loopback"),
        ("https://[::1]:8443/", "loopback"),
        ("https://169.254.169.254/latest/meta-data/", "link-local"),
        ("https://[::ffff:169.254.169.254]/", "link-local"),
        ("https://10.0.0.1/", "private"),
        ("https://0.0.0.0/", "unspecified"),
        ("https://2130706433/", "canonical"),
        ("https://0x7f000001/", "canonical"),
        ("https://127.1/", "canonical"),
        ("https://0177.0.0.1/", "canonical"),
        ("https://127.0.0.1./", "canonical"),
        ("https://exa mple.com/", "not a valid host name"),
        ("https://ex%41mple.com/", "not a valid host name"),
        ("https://a..b.com/", "not a valid host name"),
        ("https://example.com:99999/", "invalid URL"),
        ("https://example.com\\@127.0.0.1/", "invalid URL"),
    ],
)
def test_check_url_refused_url_raises_with_reason(url: str, reason: str) -> None:
    with pytest.raises(BlockedDestination, match=reason):
        check_url(url)


def test_check_url_http_allowed_only_by_policy() -> None:
    check_url("http://example.com/", DestinationPolicy(allow_http=True))
    with pytest.raises(BlockedDestination, match="https or http"):
        check_url("ftp://example.com/", DestinationPolicy(allow_http=True))


def test_check_url_private_literal_allowed_by_policy() -> None:
    check_url("http://127.0.0.1:8080/", DEV_POLICY)
    check_url(
        "https://10.1.2.3/", DestinationPolicy(allowed_cidrs=(ipaddress.ip_network("10.0.0.0/8"),))
    )


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST.", "api.localhost"])
def test_check_url_loopback_names_refused_before_dns(host: str) -> None:
    # RFC 6761 names always mean this machine, so they are refused at create time; every
    # other name is judged by what it resolves to at connect time.
    with pytest.raises(BlockedDestination, match="loopback name"):
        check_url(f"https://{host}:8443/")
    check_url(f"https://{host}:8443/", DEV_POLICY)
    check_url("https://localhost-but-public.example.com/")


def test_parse_destination_returns_the_checked_url() -> None:
    parsed = parse_destination("https://Example.com:8443/a?b=1")
    assert parsed.host == "example.com"
    assert parsed.port == 8443


def test_blocked_destination_is_tabhooks_and_os_error() -> None:
    exc = BlockedDestination("nope")
    assert isinstance(exc, TabhooksError)
    assert isinstance(exc, OSError)
    assert str(exc) == "nope"
    assert exc.reason == "nope"


def test_destination_policy_defaults_are_strict() -> None:
    assert DestinationPolicy(allow_http=False, allow_private=False) == STRICT_POLICY


def test_destination_policy_from_settings_stand_in() -> None:
    settings = SimpleNamespace(
        http_destinations_allowed=True,
        private_destinations_allowed=False,
        allowed_destination_cidrs=["10.1.0.0/16", "fd00::/8", "192.168.1.7/24"],
    )
    policy = DestinationPolicy.from_settings(settings)
    assert policy.allow_http is True
    assert policy.allow_private is False
    assert policy.allowed_cidrs == (
        ipaddress.ip_network("10.1.0.0/16"),
        ipaddress.ip_network("fd00::/8"),
        ipaddress.ip_network("192.168.1.0/24"),
    )


def test_destination_policy_from_settings_real_settings() -> None:
    strict = Settings.model_validate({"dev": False, "allowed_destination_cidrs": []})
    assert DestinationPolicy.from_settings(strict) == STRICT_POLICY
    dev = Settings.model_validate({"dev": True, "allowed_destination_cidrs": "10.0.0.0/8"})
    policy = DestinationPolicy.from_settings(dev)
    assert policy.allow_http and policy.allow_private
    assert policy.allowed_cidrs == (ipaddress.ip_network("10.0.0.0/8"),)


class FakeResolver(AbstractResolver):
    """Answers from a fixed table, so any DNS answer can be simulated without a network."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.closed = False

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in self.answers[host]
        ]

    async def close(self) -> None:
        self.closed = True


async def test_guarded_resolver_public_answers_pass_through() -> None:
    inner = FakeResolver({"hooks.example": ["93.184.215.14", "2606:2800:21f:cb07::1"]})
    results = await GuardedResolver(STRICT_POLICY, inner).resolve("hooks.example", 443)
    assert [result["host"] for result in results] == ["93.184.215.14", "2606:2800:21f:cb07::1"]


async def test_guarded_resolver_rebinding_to_metadata_blocked() -> None:
    inner = FakeResolver({"rebind.example": ["169.254.169.254"]})
    with pytest.raises(BlockedDestination, match=r"rebind\.example resolves to 169\.254"):
        await GuardedResolver(STRICT_POLICY, inner).resolve("rebind.example", 443)


async def test_guarded_resolver_one_internal_answer_blocks_the_name() -> None:
    inner = FakeResolver({"mixed.example": ["93.184.215.14", "10.0.0.5"]})
    with pytest.raises(BlockedDestination, match=r"10\.0\.0\.5"):
        await GuardedResolver(STRICT_POLICY, inner).resolve("mixed.example", 443)


async def test_guarded_resolver_allowed_cidr_passes() -> None:
    inner = FakeResolver({"internal.example": ["10.1.2.3"]})
    policy = DestinationPolicy(allowed_cidrs=(ipaddress.ip_network("10.1.0.0/16"),))
    results = await GuardedResolver(policy, inner).resolve("internal.example", 443)
    assert results[0]["host"] == "10.1.2.3"


async def test_guarded_resolver_lookup_failure_propagates_gaierror() -> None:
    with pytest.raises(socket.gaierror):
        await GuardedResolver(STRICT_POLICY, FakeResolver({})).resolve("missing.example", 443)


async def test_guarded_resolver_close_leaves_injected_resolver_open() -> None:
    inner = FakeResolver({})
    await GuardedResolver(STRICT_POLICY, inner).close()
    assert inner.closed is False


async def test_guarded_resolver_default_inner_blocks_localhost() -> None:
    resolver = GuardedResolver(STRICT_POLICY)
    try:
        with pytest.raises(BlockedDestination, match="loopback"):
            await resolver.resolve("localhost", 443, socket.AF_UNSPEC)
    finally:
        await resolver.close()


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("/api/3.28/serverinfo", "https://tableau.example/api/3.28/serverinfo"),
        ("other?x=1", "https://tableau.example/api/other?x=1"),
        ("https://eu.tableau.example/api", "https://eu.tableau.example/api"),
        ("//cdn.example/x", "https://cdn.example/x"),
    ],
)
def test_redirect_target_allowed_location_resolved_against_current(
    location: str, expected: str
) -> None:
    current = parse_destination("https://tableau.example/api/serverinfo")
    assert str(redirect_target(current, location, STRICT_POLICY)) == expected


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("http://127.0.0.1:8080/", "from https to http"),
        ("https://127.0.0.1/", "loopback"),
        ("https://[::1]/", "loopback"),
        ("https://[::ffff:127.0.0.1]/", "loopback address embedded"),
        ("https://169.254.169.254/latest/meta-data/", "link-local"),
        ("https://10.0.0.1/", "private"),
        ("https://0.0.0.0/", "unspecified"),
        ("https://2130706433/", "canonical"),
        ("https://0177.0.0.1/", "canonical"),
        ("https://localhost/", "loopback name"),
        ("https://user:pw@tableau.example/", "user name or password"),
        ("ftp://tableau.example/", "from https to ftp"),
        ("http://tableau.example/", "from https to http"),
    ],
)
def test_redirect_target_blocked_location_refused(location: str, reason: str) -> None:
    current = parse_destination("https://tableau.example/api")
    with pytest.raises(BlockedDestination, match=reason):
        redirect_target(current, location, DestinationPolicy(allow_http=True))


def test_redirect_target_http_to_https_upgrade_allowed() -> None:
    policy = DestinationPolicy(allow_http=True)
    current = parse_destination("http://tableau.example/api", policy)
    assert str(redirect_target(current, "https://tableau.example/api", policy)).startswith(
        "https://"
    )
