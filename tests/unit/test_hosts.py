"""Which Host headers the server answers, and what its origins are."""

from __future__ import annotations

import pytest

from tabhooks import hosts
from tabhooks.config import Settings


def test_allowed_hosts_default_is_the_loopback_names_and_the_bound_address() -> None:
    assert hosts.allowed_hosts(Settings()) == ["127.0.0.1", "localhost", "[::1]"]
    assert hosts.allowed_hosts(Settings(host="192.0.2.10"))[-1] == "192.0.2.10"
    assert hosts.allowed_hosts(Settings(host="fe80::1"))[-1] == "[fe80::1]"


@pytest.mark.parametrize("bind", ["0.0.0.0", "::", "[::]", ""])
def test_allowed_hosts_wildcard_bind_adds_no_host(bind: str) -> None:
    settings = Settings(host=bind)
    assert hosts.allowed_hosts(settings) == list(hosts.LOOPBACK_HOSTS)
    assert hosts.wildcard_bind(settings)


def test_allowed_hosts_adds_the_public_url_host_and_the_chosen_ones() -> None:
    settings = Settings(
        host="0.0.0.0",
        public_url="https://Hooks.Example.com:8443/base",
        allowed_hosts="tabhooks.internal, *.corp.example,::1, 10.0.0.5",  # type: ignore[arg-type]
    )
    assert hosts.allowed_hosts(settings) == [
        "127.0.0.1",
        "localhost",
        "[::1]",
        "hooks.example.com",
        "tabhooks.internal",
        "*.corp.example",
        "10.0.0.5",
    ]


@pytest.mark.parametrize("bad", ["evil/x", "a.*.example", "host:8000", "exa mple"])
def test_settings_refuse_an_allowed_host_that_is_not_a_host(bad: str) -> None:
    with pytest.raises(ValueError, match="allowed_hosts"):
        Settings(allowed_hosts=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["hooks.example.com", "ftp://hooks.example.com", "https://"])
def test_settings_refuse_a_public_url_that_is_not_an_http_base_url(bad: str) -> None:
    with pytest.raises(ValueError, match="public_url"):
        Settings(public_url=bad)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://LocalHost:80/x", "http://localhost"),
        ("https://hooks.example.com:443", "https://hooks.example.com"),
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000"),
        ("https://[::1]:8443/x", "https://[::1]:8443"),
        ("javascript:alert(1)", None),
        ("//evil.example/", None),
        ("http://host:99999/", None),
    ],
)
def test_origin(url: str, expected: str | None) -> None:
    assert hosts.origin(url) == expected


def test_server_origins_are_the_public_url_and_the_request_base() -> None:
    assert hosts.server_origins("https://hooks.example.com/t", "http://127.0.0.1:8000/") == {
        "https://hooks.example.com",
        "http://127.0.0.1:8000",
    }
    assert hosts.server_origins(None, "http://localhost:8000/") == {"http://localhost:8000"}
