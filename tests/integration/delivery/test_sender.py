"""The sender against real sockets on 127.0.0.1: every outcome a receiver can produce."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

import tabhooks
from tabhooks.delivery.guard import DestinationPolicy
from tabhooks.delivery.retry import ErrorClass
from tabhooks.delivery.sender import Sender

#: Receivers here are loopback, so the sender must be allowed to reach them.
LOCAL_POLICY = DestinationPolicy(allow_http=True, allow_private=True)
BODY = b'{"resource":"WORKBOOK","event_type":"WorkbookCreated"}'
BIG_BODY_BYTES = 1024 * 1024

RawHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Receiver:
    """A real HTTP receiver; ``requests`` records what arrived, per path."""

    base_url: str = ""
    requests: dict[str, list[tuple[dict[str, str], bytes]]] = field(default_factory=dict)
    content_type_counts: list[int] = field(default_factory=list)

    def hits(self, path: str) -> int:
        return len(self.requests.get(path, []))


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver()

    async def record(request: web.Request) -> None:
        body = await request.read()
        state.requests.setdefault(request.path, []).append((dict(request.headers), body))
        state.content_type_counts.append(len(request.headers.getall("Content-Type", [])))

    async def ok(request: web.Request) -> web.Response:
        await record(request)
        return web.Response(text="thanks", headers={"X-Receiver": "a", "x-receiver-2": "b"})

    async def status(request: web.Request) -> web.Response:
        await record(request)
        code = int(request.match_info["code"])
        headers = {"Retry-After": "7"} if code == 429 else {}
        return web.Response(status=code, text=f"status {code}", headers=headers)

    async def redirect(request: web.Request) -> web.Response:
        await record(request)
        raise web.HTTPFound("/target")

    async def big(request: web.Request) -> web.Response:
        await record(request)
        return web.Response(body=b"x" * BIG_BODY_BYTES)

    async def trickle(request: web.Request) -> web.StreamResponse:
        """The body in three pieces, the first two sent before the rest exists."""
        await record(request)
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for piece in (b"first,", b"second,", b"third"):
            await response.write(piece)
            await asyncio.sleep(0.02)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/ok", ok)
    app.router.add_post("/trickle", trickle)
    app.router.add_post("/status/{code}", status)
    app.router.add_post("/redirect", redirect)
    app.router.add_route("*", "/target", ok)
    app.router.add_post("/big", big)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    state.base_url = f"http://{host}:{port}"
    yield state
    await runner.cleanup()


@pytest.fixture
async def raw_server() -> AsyncIterator[Callable[[RawHandler], Awaitable[int]]]:
    """Start asyncio socket servers that misbehave below HTTP; returns their ports."""
    servers: list[asyncio.Server] = []
    writers: list[asyncio.StreamWriter] = []

    async def start(handler: RawHandler) -> int:
        async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writers.append(writer)
            await handler(reader, writer)

        server = await asyncio.start_server(tracked, "127.0.0.1", 0)
        servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    yield start
    for writer in writers:
        writer.transport.abort()
    for server in servers:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def sender() -> AsyncIterator[Sender]:
    async with Sender(LOCAL_POLICY, connect_timeout_s=1, total_timeout_s=2) as started:
        yield started


async def read_request_head(reader: asyncio.StreamReader) -> None:
    await reader.readuntil(b"\r\n\r\n")


async def test_send_200_success_with_body_and_headers(sender: Sender, receiver: Receiver) -> None:
    outcome = await sender.send(f"{receiver.base_url}/ok", BODY, {"webhook-id": "evt_1"})
    assert outcome.status == 200
    assert outcome.error is None
    assert outcome.succeeded
    assert outcome.response_body == b"thanks"
    assert not outcome.response_truncated
    assert outcome.response_headers["x-receiver"] == "a"
    assert outcome.response_headers["x-receiver-2"] == "b"
    assert all(name == name.lower() for name in outcome.response_headers)
    assert outcome.duration_ms > 0
    [(headers, body)] = receiver.requests["/ok"]
    assert body == BODY
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == f"tabhooks/{tabhooks.__version__}"
    assert headers["webhook-id"] == "evt_1"
    assert "Cookie" not in headers


async def test_send_caller_headers_override_defaults(sender: Sender, receiver: Receiver) -> None:
    await sender.send(f"{receiver.base_url}/ok", b"a=1", {"content-type": "text/plain"})
    [(headers, _)] = receiver.requests["/ok"]
    assert headers["Content-Type"] == "text/plain"
    assert receiver.content_type_counts == [1]


async def test_send_500_reported_as_status(sender: Sender, receiver: Receiver) -> None:
    outcome = await sender.send(f"{receiver.base_url}/status/500", BODY, {})
    assert outcome.status == 500
    assert outcome.error is None
    assert not outcome.succeeded
    assert outcome.response_body == b"status 500"


async def test_send_410_reported_as_gone(sender: Sender, receiver: Receiver) -> None:
    outcome = await sender.send(f"{receiver.base_url}/status/410", BODY, {})
    assert outcome.status == 410
    assert outcome.gone


async def test_send_429_captures_retry_after(sender: Sender, receiver: Receiver) -> None:
    outcome = await sender.send(f"{receiver.base_url}/status/429", BODY, {})
    assert outcome.status == 429
    assert outcome.retry_after == "7"
    assert outcome.response_headers["retry-after"] == "7"
    assert outcome.throttled


async def test_send_redirect_not_followed(sender: Sender, receiver: Receiver) -> None:
    outcome = await sender.send(f"{receiver.base_url}/redirect", BODY, {})
    assert outcome.status == 302
    assert outcome.response_headers["location"] == "/target"
    assert not outcome.succeeded
    assert receiver.hits("/redirect") == 1
    assert receiver.hits("/target") == 0


async def test_send_large_response_truncated_at_cap(sender: Sender, receiver: Receiver) -> None:
    outcome = await sender.send(f"{receiver.base_url}/big", BODY, {})
    assert outcome.status == 200
    assert outcome.response_body == b"x" * sender.max_response_bytes
    assert outcome.response_truncated


async def test_send_reads_a_body_that_arrives_in_pieces(sender: Sender, receiver: Receiver) -> None:
    outcome = await sender.send(f"{receiver.base_url}/trickle", BODY, {})
    assert outcome.status == 200
    assert outcome.response_body == b"first,second,third"
    assert not outcome.response_truncated


async def test_send_connection_reuse_after_truncated_body(
    sender: Sender, receiver: Receiver
) -> None:
    await sender.send(f"{receiver.base_url}/big", BODY, {})
    outcome = await sender.send(f"{receiver.base_url}/ok", BODY, {})
    assert outcome.status == 200


async def test_send_timeout_when_receiver_never_answers(
    raw_server: Callable[[RawHandler], Awaitable[int]],
) -> None:
    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up and closes

    port = await raw_server(hang)
    async with Sender(LOCAL_POLICY, total_timeout_s=0.5) as short:
        outcome = await short.send(f"http://127.0.0.1:{port}/", BODY, {})
    assert outcome.error is ErrorClass.TIMEOUT
    assert outcome.status is None
    assert 400 <= outcome.duration_ms < 1900


async def test_send_connection_refused_on_closed_port(sender: Sender) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    outcome = await sender.send(f"http://127.0.0.1:{port}/", BODY, {})
    assert outcome.error is ErrorClass.CONNECT_REFUSED
    assert outcome.status is None


async def test_send_connection_reset_by_receiver(
    sender: Sender, raw_server: Callable[[RawHandler], Awaitable[int]]
) -> None:
    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()  # RST instead of FIN

    port = await raw_server(reset)
    outcome = await sender.send(f"http://127.0.0.1:{port}/", BODY, {})
    assert outcome.error is ErrorClass.RESET
    assert outcome.status is None


async def test_send_closed_without_response_is_reset(
    sender: Sender, raw_server: Callable[[RawHandler], Awaitable[int]]
) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        writer.close()

    port = await raw_server(hang_up)
    outcome = await sender.send(f"http://127.0.0.1:{port}/", BODY, {})
    assert outcome.error is ErrorClass.RESET


async def test_send_body_cut_short_keeps_status(
    sender: Sender, raw_server: Callable[[RawHandler], Awaitable[int]]
) -> None:
    async def short_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        await writer.drain()
        writer.close()

    port = await raw_server(short_body)
    outcome = await sender.send(f"http://127.0.0.1:{port}/", BODY, {})
    assert outcome.status == 200
    assert outcome.succeeded
    assert outcome.response_body == b"partial"
    assert outcome.detail is not None
    assert "incomplete" in outcome.detail


async def test_send_oversized_response_head_is_too_large(
    sender: Sender, raw_server: Callable[[RawHandler], Awaitable[int]]
) -> None:
    async def huge_header(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nX-Huge: " + b"a" * 20_000 + b"\r\n\r\n")
        await writer.drain()

    port = await raw_server(huge_header)
    outcome = await sender.send(f"http://127.0.0.1:{port}/", BODY, {})
    assert outcome.error is ErrorClass.TOO_LARGE


async def test_send_non_http_answer_is_protocol_error(
    sender: Sender, raw_server: Callable[[RawHandler], Awaitable[int]]
) -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        await writer.drain()

    port = await raw_server(garbage)
    outcome = await sender.send(f"http://127.0.0.1:{port}/", BODY, {})
    assert outcome.error is ErrorClass.PROTOCOL


async def test_send_https_to_plain_http_server_is_tls_error(
    sender: Sender, receiver: Receiver
) -> None:
    url = receiver.base_url.replace("http://", "https://") + "/ok"
    outcome = await sender.send(url, BODY, {})
    assert outcome.error is ErrorClass.TLS
    assert receiver.hits("/ok") == 0


async def test_send_strict_policy_blocks_http_without_network(receiver: Receiver) -> None:
    async with Sender(DestinationPolicy()) as strict:
        outcome = await strict.send(f"{receiver.base_url}/ok", BODY, {})
    assert outcome.error is ErrorClass.BLOCKED
    assert outcome.detail is not None
    assert "https" in outcome.detail
    assert receiver.hits("/ok") == 0


async def test_send_strict_policy_blocks_loopback_literal() -> None:
    async with Sender(DestinationPolicy()) as strict:
        outcome = await strict.send("https://127.0.0.1:1/", BODY, {})
        mapped = await strict.send("https://[::ffff:127.0.0.1]:1/", BODY, {})
    assert outcome.error is ErrorClass.BLOCKED
    assert mapped.error is ErrorClass.BLOCKED


async def test_send_strict_policy_blocks_localhost_before_connecting() -> None:
    async with Sender(DestinationPolicy()) as strict:
        outcome = await strict.send("https://localhost:1/", BODY, {})
    assert outcome.error is ErrorClass.BLOCKED  # not connect_refused: no connect was tried
    assert outcome.detail is not None
    assert "loopback" in outcome.detail


class FakeResolver(AbstractResolver):
    """Resolves from a table, to play DNS answers (rebinding, failures) without a network."""

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            ResolveResult(
                hostname=host,
                host=self.answers[host],
                port=port,
                family=socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
        ]

    async def close(self) -> None:
        pass


async def test_send_name_rebound_to_loopback_blocked(receiver: Receiver) -> None:
    port = receiver.base_url.rsplit(":", 1)[1]
    policy = DestinationPolicy(allow_http=True)
    async with Sender(policy, inner_resolver=FakeResolver({"hooks.test": "127.0.0.1"})) as guarded:
        outcome = await guarded.send(f"http://hooks.test:{port}/ok", BODY, {})
    assert outcome.error is ErrorClass.BLOCKED
    assert receiver.hits("/ok") == 0


async def test_send_name_in_allowed_cidr_delivered(receiver: Receiver) -> None:
    port = receiver.base_url.rsplit(":", 1)[1]
    policy = DestinationPolicy(
        allow_http=True, allowed_cidrs=(ipaddress.ip_network("127.0.0.0/8"),)
    )
    async with Sender(policy, inner_resolver=FakeResolver({"hooks.test": "127.0.0.1"})) as guarded:
        outcome = await guarded.send(f"http://hooks.test:{port}/ok", BODY, {})
    assert outcome.status == 200
    assert receiver.hits("/ok") == 1


async def test_send_unresolvable_name_is_dns_error() -> None:
    async with Sender(LOCAL_POLICY, inner_resolver=FakeResolver({})) as sender:
        outcome = await sender.send("https://missing.test/", BODY, {})
    assert outcome.error is ErrorClass.DNS


async def test_send_before_start_raises() -> None:
    with pytest.raises(RuntimeError):
        await Sender(LOCAL_POLICY).send("https://example.com/", BODY, {})


async def test_close_twice_is_harmless_and_stops_sending() -> None:
    sender = Sender(LOCAL_POLICY)
    await sender.start()
    await sender.close()
    await sender.close()
    with pytest.raises(RuntimeError):
        await sender.send("https://example.com/", BODY, {})
