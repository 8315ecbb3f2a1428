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


_ALLOWED = ["127.0.0.1", "localhost", "[::1]", "hooks.example.com", "*.corp.example", "10.0.0.5"]
_HEADERS = [
    None, "", "127.0.0.1", "127.0.0.1:8000", "LOCALHOST:80", "[::1]", "[::1]:8000", "[::2]",
    "[::1", "::1", "[zz::1]", "hooks.example.com", "Hooks.Example.COM:8443", "evil.example",
    "hooks.example.com.evil.example", "a.corp.example", "a.b.corp.example:1", "corp.example",
    "xcorp.example", "10.0.0.5:99999", "10.0.0.5:", "10.0.0.5:x", "127.0.0.1 ", " 127.0.0.1",
    "user@127.0.0.1", "127.0.0.1/x", "www.localhost",
]  # fmt: skip


async def _starlette_answers(allowed: list[str], header: str | None) -> int:
    """The status Starlette's TrustedHostMiddleware gives ``Host: header``."""
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    statuses: list[int] = []

    async def inner(scope: object, receive: object, send: object) -> None:
        statuses.append(200)

    async def send(message: dict[str, object]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(int(message["status"]))  # type: ignore[call-overload]

    async def receive() -> dict[str, object]:
        return {"type": "http.request"}

    headers = [] if header is None else [(b"host", header.encode("latin-1"))]
    middleware = TrustedHostMiddleware(inner, allowed_hosts=allowed, www_redirect=False)  # type: ignore[arg-type]
    await middleware({"type": "http", "headers": headers}, receive, send)  # type: ignore[arg-type]
    return statuses[0]


@pytest.mark.parametrize("header", _HEADERS)
async def test_host_check_answers_as_starlettes_trusted_host_middleware(header: str | None) -> None:
    """The request guard's check is Starlette's test, so hosts.allowed_hosts means the same."""
    check = hosts.HostCheck(_ALLOWED)
    raw = None if header is None else header.encode("latin-1")
    expected = await _starlette_answers(_ALLOWED, header) == 200
    assert check.allows(raw) is expected
    assert check.allows(raw) is expected  # remembered, same answer


def test_host_check_star_allows_any_and_memory_is_bounded() -> None:
    assert hosts.HostCheck(["*"]).allows(b"anything.example")
    check = hosts.HostCheck(["localhost"], memo_size=4)
    for n in range(50):
        assert not check.allows(f"h{n}.example".encode())
    assert len(check._memo) <= 4
    assert check.allows(b"localhost:1")


@pytest.mark.parametrize("bad", ["a.*.example", "*example.com"])
def test_host_check_refuses_wildcards_starlette_refuses(bad: str) -> None:
    with pytest.raises(ValueError, match="wildcards"):
        hosts.HostCheck([bad])
