"""The webhook receiver and the black hole for ``bench/delivery.py``, in one process.

* **receiver** — an :mod:`aiohttp.web` app on 127.0.0.1 that answers every ``POST`` with
  ``200`` and an empty body as soon as the body has arrived, and records, per request, the URL
  path, a marker (the payload's ``resource_luid``, which the benchmark sets to a sequence
  number), the ``webhook-id`` header and the arrival time (``time.time()``, the same clock the
  benchmark stamps commits with). A ``webhook-id`` seen twice is counted as a duplicate.
* **black hole** — a bare TCP server on 127.0.0.1 that accepts connections, reads whatever is
  sent and never answers, like a receiver whose application hung.

Control endpoints (under ``/_bench/``, never targeted by deliveries):

* ``GET /_bench/stats`` — ``{"count", "duplicates", "blackhole_connections", "signed",
  "last_arrival"}`` (requests with a ``webhook-signature`` header; the newest arrival time);
* ``GET /_bench/arrivals`` — ``[[path, marker, arrival_time], ...]`` in arrival order;
* ``POST /_bench/reset`` — forget everything recorded so far.

Run: ``python bench/_delivery_receiver.py``; it prints
``receiver listening on http://127.0.0.1:PORT blackhole 127.0.0.1:PORT``. It uses uvloop when
installed, as ``tabhooks serve`` does, so the receiver is not the slower side of the race.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time

from aiohttp import web

HOST = "127.0.0.1"
_MARKER = b'"resource_luid":"'


class Recorder:
    """Everything the receiver has seen since the last reset."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[str, str, float]] = []
        self.seen_ids: set[str] = set()
        self.duplicates = 0
        self.blackhole_connections = 0
        self.signed = 0

    def reset(self) -> None:
        self.arrivals.clear()
        self.seen_ids.clear()
        self.duplicates = 0
        self.blackhole_connections = 0
        self.signed = 0


def marker_of(body: bytes) -> str:
    """The payload's ``resource_luid`` without parsing the JSON (cheap, and exact here)."""
    start = body.find(_MARKER)
    if start < 0:
        return ""
    start += len(_MARKER)
    return body[start : body.find(b'"', start)].decode()


def create_app(recorder: Recorder) -> web.Application:
    async def deliver(request: web.Request) -> web.Response:
        body = await request.read()
        arrived = time.time()
        delivery_id = request.headers.get("webhook-id", "")
        if delivery_id in recorder.seen_ids:
            recorder.duplicates += 1
        else:
            recorder.seen_ids.add(delivery_id)
        if "webhook-signature" in request.headers:
            recorder.signed += 1
        recorder.arrivals.append((request.path, marker_of(body), arrived))
        return web.Response(status=200)

    async def stats(_: web.Request) -> web.Response:
        return web.json_response(
            {
                "count": len(recorder.arrivals),
                "duplicates": recorder.duplicates,
                "blackhole_connections": recorder.blackhole_connections,
                "signed": recorder.signed,
                "last_arrival": recorder.arrivals[-1][2] if recorder.arrivals else None,
            }
        )

    async def arrivals(_: web.Request) -> web.Response:
        return web.json_response(recorder.arrivals)

    async def reset(_: web.Request) -> web.Response:
        recorder.reset()
        return web.json_response({})

    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_get("/_bench/stats", stats)
    app.router.add_get("/_bench/arrivals", arrivals)
    app.router.add_post("/_bench/reset", reset)
    app.router.add_post("/{tail:.*}", deliver)
    return app


async def _black_hole(
    recorder: Recorder, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    recorder.blackhole_connections += 1
    with contextlib.suppress(OSError):
        while await reader.read(65536):
            pass  # swallow the request; never write a byte back
    writer.close()


def _listen() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))
    sock.listen(2048)
    return sock


async def serve() -> None:
    recorder = Recorder()
    runner = web.AppRunner(create_app(recorder), access_log=None, handle_signals=True)
    await runner.setup()
    sock = _listen()
    await web.SockSite(runner, sock, backlog=2048).start()
    hole = await asyncio.start_server(
        lambda r, w: _black_hole(recorder, r, w), sock=_listen(), backlog=2048
    )
    hole_port = hole.sockets[0].getsockname()[1]
    print(
        f"receiver listening on http://{HOST}:{sock.getsockname()[1]} blackhole {HOST}:{hole_port}",
        flush=True,
    )
    try:
        await asyncio.Event().wait()
    finally:
        hole.close()
        await runner.cleanup()


def main() -> None:
    try:
        import uvloop
    except ImportError:
        run = asyncio.run
    else:
        run = uvloop.run
    with contextlib.suppress(KeyboardInterrupt):
        run(serve())


if __name__ == "__main__":
    main()
