"""The one guarded client session against real loopback listeners: the connector checks the
address of every connection it opens — IP literals included, which aiohttp never hands to a
resolver — and the URL of every hop, even one aiohttp follows on its own."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterator
from contextlib import ExitStack

import aiohttp
import pytest
import uvicorn
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from tabhooks.delivery.guard import IDLE_CONNECTION_S, DestinationPolicy, guarded_session
from tabhooks.delivery.retry import ErrorClass
from tabhooks.delivery.sender import classify_error
from tests.support.listeners import CountingListener

#: http allowed, 127.0.0.2 allowed, every other internal address blocked.
POLICY = DestinationPolicy(allow_http=True, allowed_cidrs=(ipaddress.ip_network("127.0.0.2/32"),))


@pytest.fixture
def listeners() -> Iterator[dict[str, CountingListener]]:
    """Counting HTTP listeners: two blocked ones (``v4``, ``v6``) and the ``allowed`` one."""
    found = {
        "v4": CountingListener("127.0.0.1"),
        "v6": CountingListener("::1"),
        "allowed": CountingListener("127.0.0.2"),
    }
    with ExitStack() as running:
        for listener in found.values():
            running.enter_context(listener)
        yield found


class FakeResolver(AbstractResolver):
    """Every name resolves to ``address``: DNS pointing inward, without touching DNS."""

    def __init__(self, address: str) -> None:
        self.address = address

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        family = socket.AF_INET6 if ":" in self.address else socket.AF_INET
        return [
            ResolveResult(hostname=host, host=self.address, port=port, family=family, proto=0,
                          flags=socket.AI_NUMERICHOST)
        ]  # fmt: skip

    async def close(self) -> None:
        pass


async def _get(url: str, *, resolver: AbstractResolver | None = None) -> int:
    """GET ``url`` the way aiohttp does by default (redirects followed) through the guard."""
    timeout = aiohttp.ClientTimeout(total=5)
    async with (
        guarded_session(POLICY, timeout=timeout, limit=4, inner_resolver=resolver) as session,
        session.get(url) as response,
    ):
        return response.status


def _assert_blocked(exc: BaseException, reason: str) -> None:
    error, detail = classify_error(exc)
    assert error is ErrorClass.BLOCKED, detail
    assert reason in detail


@pytest.mark.parametrize(
    ("which", "host", "reason"),
    [
        ("v4", "127.0.0.1", "loopback address"),
        ("v4", "[::ffff:127.0.0.1]", "loopback address embedded"),
        ("v4", "0.0.0.0", "unspecified"),
        ("v6", "[::1]", "loopback address"),
    ],
)
async def test_ip_literal_of_a_blocked_listener_is_never_connected(
    listeners: dict[str, CountingListener], which: str, host: str, reason: str
) -> None:
    target = listeners[which]
    with pytest.raises((aiohttp.ClientError, OSError)) as raised:
        await _get(f"http://{host}:{target.port}/")
    _assert_blocked(raised.value, reason)
    assert target.connections == 0


async def test_name_resolving_to_a_blocked_address_is_never_connected(
    listeners: dict[str, CountingListener],
) -> None:
    target = listeners["v4"]
    with pytest.raises((aiohttp.ClientError, OSError)) as raised:
        await _get(f"http://inward.example:{target.port}/", resolver=FakeResolver("127.0.0.1"))
    _assert_blocked(raised.value, "inward.example resolves to 127.0.0.1")
    assert target.connections == 0


async def test_allowed_address_is_reached_by_literal_and_by_name(
    listeners: dict[str, CountingListener],
) -> None:
    allowed = listeners["allowed"]
    assert await _get(allowed.url) == 200
    assert (
        await _get(f"http://ok.example:{allowed.port}/", resolver=FakeResolver("127.0.0.2")) == 200
    )
    assert allowed.connections == 2


@pytest.mark.parametrize(
    ("which", "location", "reason"),
    [
        ("v4", "http://127.0.0.1:{port}/", "loopback address"),
        ("v4", "http://[::ffff:127.0.0.1]:{port}/", "loopback address embedded"),
        ("v4", "http://0.0.0.0:{port}/", "unspecified"),
        ("v4", "http://localhost:{port}/", "loopback name"),
        ("v6", "http://[::1]:{port}/", "loopback address"),
    ],
)
async def test_redirect_followed_by_aiohttp_is_still_checked_on_its_hop(
    listeners: dict[str, CountingListener], which: str, location: str, reason: str
) -> None:
    # No caller lets aiohttp follow redirects, but if one ever did, the connector still
    # judges the hop's URL and address before opening anything.
    target = listeners[which]
    allowed = listeners["allowed"]
    where = location.format(port=target.port)
    allowed.reply = f"HTTP/1.1 302 Found\r\nLocation: {where}\r\nContent-Length: 0\r\n\r\n".encode()
    with pytest.raises((aiohttp.ClientError, OSError)) as raised:
        await _get(allowed.url)
    _assert_blocked(raised.value, reason)
    assert allowed.connections == 1
    assert target.connections == 0


async def _client_ports(idle_s: float, pause_s: float) -> list[int]:
    """Two POSTs through one guarded session to a keep-alive server, ``pause_s`` apart; the
    client port each arrived from (the same port: the pooled connection was reused)."""
    ports: list[int] = []

    async def record(request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        ports.append(peer[1])
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", record)
    runner = web.AppRunner(app)
    await runner.setup()
    listening = socket.create_server(("127.0.0.2", 0))
    port = listening.getsockname()[1]
    await web.SockSite(runner, listening).start()
    try:
        timeout = aiohttp.ClientTimeout(total=5)
        async with guarded_session(POLICY, timeout=timeout, limit=4, idle_s=idle_s) as session:
            for pause in (0.0, pause_s):
                await asyncio.sleep(pause)
                async with session.post(f"http://127.0.0.2:{port}/hook", data=b"{}") as response:
                    assert response.status == 200
    finally:
        await runner.cleanup()
        listening.close()
    return ports


async def test_idle_connections_are_dropped_before_common_servers_close_them() -> None:
    """A connection idle past ``idle_s`` is not reused (a receiver that closes idle
    connections at that moment would reset the delivery), one used sooner is."""
    reused = await _client_ports(idle_s=0.5, pause_s=0.05)
    assert reused[0] == reused[1]
    dropped = await _client_ports(idle_s=0.2, pause_s=0.6)
    assert dropped[0] != dropped[1]


def test_idle_connections_are_dropped_before_our_own_server_closes_them() -> None:
    """``tabhooks serve`` runs uvicorn with its default idle timeout; deliveries to its inbox
    (the docs' walk-through) must not meet a connection it is closing."""
    assert uvicorn.Config(app=lambda: None).timeout_keep_alive > IDLE_CONNECTION_S
