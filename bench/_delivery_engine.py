"""One measurement of ``bench/delivery.py``, run in a fresh process so its memory is its own.

``python bench/_delivery_engine.py PHASE SPEC_JSON`` runs one phase against the receiver
named in the spec and prints progress lines, then ``RESULT {json}`` as its last line.

* ``ceiling`` — no tabhooks at all: an :class:`aiohttp.ClientSession` POSTs the payload
  tabhooks would send, with the same headers and the same per-host connection limit as
  tabhooks' sender, from ``per_destination`` workers.
* every other phase — a tabhooks server exactly as ``tabhooks serve --dev`` builds it
  (:func:`tabhooks.api.app.create_app` on a fresh SQLite file, served by uvicorn with serve's
  settings on uvloop, the dispatcher running in-process), and the benchmark inside that same
  process emitting events through the service layer (:func:`tabhooks.services.emit.emit`
  inside ``store.write()``), which is what an API call that fires an event does.

Set-up (webhooks, the admin's site) is written straight through the store and is not timed.
The queue functions the dispatcher calls are wrapped to count claimed and released rows and
write transactions (a counter per call; the statements are untouched), so churn shows up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import uvicorn
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from tabhooks import events
from tabhooks.api.app import create_app
from tabhooks.config import Settings
from tabhooks.delivery import signing
from tabhooks.delivery.runtime import delivery_runtime
from tabhooks.delivery.sender import USER_AGENT
from tabhooks.services import emit as emit_service
from tabhooks.store import Store, open_store
from tabhooks.store import deliveries as queue
from tabhooks.store import secrets as secrets_store
from tabhooks.store import sites as sites_store
from tabhooks.store import users as users_store
from tabhooks.store import webhooks as webhooks_store
from tabhooks.store.tables import deliveries

ADMIN_PASSWORD = "bench-admin-password"
EVENT = "WorkbookCreated"
#: The event of (j)'s burst, so its webhooks are apart from the (b) load's.
BURST_EVENT = "WorkbookUpdated"
SITE_LUID = "00000000-0000-4000-8000-000000000000"
#: How often the emitter looks at the receiver's count when it keeps a backlog.
POLL_S = 0.05


def log(message: str) -> None:
    print(message, flush=True)


def memory_mb() -> dict[str, float]:
    """This process's current and peak RSS in MiB (``VmRSS``/``VmHWM``)."""
    fields: dict[str, float] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in {"VmRSS", "VmHWM"}:
            fields[key] = round(int(value.split()[0]) / 1024, 1)
    return {"rss_mb": fields["VmRSS"], "peak_rss_mb": fields["VmHWM"]}


# ----------------------------------------------------------------------------- the receiver


@dataclass
class ReceiverClient:
    """Talks to ``_delivery_receiver.py``'s control endpoints."""

    base_url: str
    session: aiohttp.ClientSession

    async def stats(self) -> dict[str, Any]:
        async with self.session.get(f"{self.base_url}/_bench/stats") as response:
            result: dict[str, Any] = await response.json()
            return result

    async def count(self) -> int:
        count: int = (await self.stats())["count"]
        return count

    async def arrivals(self) -> list[tuple[str, str, float]]:
        async with self.session.get(f"{self.base_url}/_bench/arrivals") as response:
            return [tuple(row) for row in await response.json()]  # type: ignore[misc]

    async def reset(self) -> None:
        async with self.session.post(f"{self.base_url}/_bench/reset") as response:
            response.raise_for_status()

    async def wait_for(self, count: int, timeout_s: float, poll_s: float = 0.01) -> int:
        """Poll until ``count`` requests arrived or ``timeout_s`` passed; returns the count."""
        deadline = time.monotonic() + timeout_s
        seen = await self.count()
        while seen < count and time.monotonic() < deadline:
            await asyncio.sleep(poll_s)
            seen = await self.count()
        return seen


@contextlib.asynccontextmanager
async def receiver_client(base_url: str) -> AsyncIterator[ReceiverClient]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        client = ReceiverClient(base_url, session)
        await client.reset()  # every phase starts from an empty record
        yield client


@dataclass
class Window:
    """Receipts counted over a measured window of a sustained run, and this process's CPU.

    ``cpu_s`` is user + system time of the whole process (every thread, the WAL
    checkpointer's included) over the window: on a shared machine, CPU per delivery moves
    less than deliveries/s.
    """

    count: int
    seconds: float
    cpu_s: float

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    @property
    def cpu_us_each(self) -> float:
        return 1e6 * self.cpu_s / self.count if self.count else float("inf")

    def as_dict(self) -> dict[str, float]:
        return {"count": self.count, "seconds": self.seconds, "cpu_s": self.cpu_s}


# ----------------------------------------------------------------------------- ceiling


def bench_payload(marker: str) -> bytes:
    """The bytes tabhooks posts for one ``WorkbookCreated`` event with ``marker`` as LUID."""
    event = events.BY_NAME[EVENT]
    occurrence = events.Occurrence(
        event=event,
        resource=event.resource,
        resource_name="bench",
        resource_luid=marker,
        site_luid=SITE_LUID,
        created_at=datetime.now(UTC),
    )
    return events.payload(occurrence)


class BareClient:
    """The ceiling's client: bare :mod:`aiohttp` POSTs of the payload tabhooks sends, with the
    same headers, from ``workers`` tasks over one pooled session with as many connections.

    The body is built once (tabhooks, too, sends stored bytes); only ``webhook-id`` changes,
    so the receiver can count duplicates.
    """

    def __init__(self, session: aiohttp.ClientSession, receiver: str, workers: int) -> None:
        self.session = session
        self.workers = workers
        self.url = f"{receiver}/hook/0"
        self.body = bench_payload("0")
        self.headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Accept-Encoding": "identity",
            "webhook-timestamp": str(int(time.time())),
        }
        self.serial = 0

    async def post(self) -> None:
        self.serial += 1
        sent = dict(self.headers, **{"webhook-id": f"msg_bare{self.serial}"})
        async with self.session.post(
            self.url, data=self.body, headers=sent, allow_redirects=False
        ) as response:
            await response.read()
            if response.status != 200:
                raise RuntimeError(f"receiver answered {response.status}")

    async def run(self, *, until: float, limit: int) -> int:
        """POST from every worker until ``until`` (monotonic) or ``limit`` POSTs in all."""
        done = 0

        async def worker() -> None:
            nonlocal done
            while time.monotonic() < until and done < limit:
                done += 1
                await self.post()

        await asyncio.gather(*(worker() for _ in range(self.workers)))
        return done

    async def fanout(self, count: int) -> float:
        """Seconds ``count`` POSTs take from warm: the ceiling's time for one fan-out."""
        started = time.perf_counter()
        await self.run(until=float("inf"), limit=count)
        return time.perf_counter() - started


@contextlib.asynccontextmanager
async def bare_client(receiver: str, workers: int, concurrency: int) -> AsyncIterator[BareClient]:
    connector = aiohttp.TCPConnector(limit=max(concurrency, 64), limit_per_host=workers)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=15)
    ) as session:
        yield BareClient(session, receiver, workers)


async def phase_ceiling(spec: dict[str, Any]) -> dict[str, Any]:
    """Bare aiohttp: sustained POSTs/s, then the time ``fanout`` POSTs take, from warm."""
    async with (
        bare_client(
            spec["receiver"], int(spec["per_destination"]), int(spec["concurrency"])
        ) as bare,
        receiver_client(spec["receiver"]) as receiver,
    ):
        window = await sustained_window(
            receiver, spec, drive=lambda until: bare.run(until=until, limit=10**9)
        )
        log(
            f"  ceiling: {window.rate:,.0f} POSTs/s over {window.seconds:.1f} s "
            f"({window.cpu_us_each:.0f} µs of client CPU each)"
        )
        fanout_times = [await bare.fanout(int(spec["fanout"])) for _ in range(spec["fanout_reps"])]
        stats = await receiver.stats()
    log(
        f"  ceiling: {spec['fanout']} POSTs in "
        + ", ".join(f"{1000 * t:.0f}" for t in fanout_times)
        + " ms"
    )
    return {
        "rate": window.rate,
        "window": window.as_dict(),
        "cpu_us_each": window.cpu_us_each,
        "fanout_s": statistics.median(fanout_times),
        "fanout_all_s": fanout_times,
        "duplicates": stats["duplicates"],
    }


async def sustained_load(
    app: Tabhooks, receiver: ReceiverClient, spec: dict[str, Any], *, healthy_per_event: int = 1
) -> tuple[Window, dict[str, Any]]:
    """(b)'s load (and (e)'s, with ``healthy_per_event`` deliveries to the receiver per
    event): ``emit_batch`` events per transaction whenever fewer than ``backlog`` healthy
    deliveries wait, measured over :func:`sustained_window`; the window and what was
    emitted."""
    emitted: dict[str, Any] = {}

    async def drive(until: float) -> None:
        emitted.update(
            await sustain(
                app,
                receiver,
                until=until,
                healthy_per_event=healthy_per_event,
                batch=int(spec["emit_batch"]),
                backlog=int(spec["backlog"]),
            )
        )

    return await sustained_window(receiver, spec, drive), emitted


async def sustained_window(
    receiver: ReceiverClient,
    spec: dict[str, Any],
    drive: Callable[[float], Awaitable[Any]],
) -> Window:
    """Run ``drive(until)`` for warm-up + window; count receipts over the window only."""
    start = time.monotonic()
    window_start = start + float(spec["warmup_s"])
    until = window_start + float(spec["window_s"])
    task = asyncio.ensure_future(drive(until))
    await asyncio.sleep(max(0.0, window_start - time.monotonic()))
    first, t0, cpu0 = await receiver.count(), time.monotonic(), time.process_time()
    await asyncio.sleep(max(0.0, until - time.monotonic()))
    last, t1, cpu1 = await receiver.count(), time.monotonic(), time.process_time()
    await task
    return Window(last - first, t1 - t0, cpu1 - cpu0)


# ----------------------------------------------------------------------------- tabhooks


@dataclass
class QueueTrace:
    """Counts of what the dispatcher asked of the queue (wrappers around tabhooks.store)."""

    claims: int = 0
    claimed_rows: int = 0
    releases: int = 0
    released_rows: int = 0
    finishes: int = 0
    finished_rows: int = 0
    #: Claims that found due rows but came after a pause of 0.5 s or more (a stalled loop).
    late_claims: int = 0
    longest_pause_s: float = 0.0
    _last_claim: float = 0.0

    def install(self) -> None:
        claim_due, release, finish = queue.claim_due, queue.release, queue.finish

        async def counted_claim(*args: Any, **kwargs: Any) -> Any:
            batch = await claim_due(*args, **kwargs)
            now = time.monotonic()
            pause = now - self._last_claim if self._last_claim else 0.0
            self._last_claim = now
            self.claims += 1
            self.claimed_rows += len(batch)
            if batch and pause >= 0.5:
                self.late_claims += 1
                self.longest_pause_s = max(self.longest_pause_s, pause)
            return batch

        async def counted_release(*args: Any, **kwargs: Any) -> Any:
            self.releases += 1
            self.released_rows += len(kwargs.get("ids", ()))
            return await release(*args, **kwargs)

        async def counted_finish(*args: Any, **kwargs: Any) -> Any:
            self.finishes += 1
            self.finished_rows += len(kwargs.get("results", ()))
            return await finish(*args, **kwargs)

        queue.claim_due = counted_claim  # type: ignore[assignment]
        queue.release = counted_release  # type: ignore[assignment]
        queue.finish = counted_finish  # type: ignore[assignment]

    def reset(self) -> None:
        for name in self.snapshot():
            setattr(self, name, type(getattr(self, name))())
        self._last_claim = time.monotonic()

    def snapshot(self) -> dict[str, float]:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}


@dataclass
class Tabhooks:
    """A tabhooks server running in this process, and the benchmark's handle on its store."""

    app: FastAPI
    store: Store
    settings: Settings
    site_id: str = ""
    owner_id: str = ""
    webhook_count: int = 0
    trace: QueueTrace = field(default_factory=QueueTrace)

    async def add_webhooks(
        self, urls: Sequence[str], *, signed: bool = False, event: str = EVENT
    ) -> list[str]:
        """Webhooks on ``event`` to ``urls``; ``signed`` gives each a signing secret, as
        Create Webhook with a secret does (sealed in the store)."""
        ids = []
        async with self.store.write() as conn:
            for url in urls:
                self.webhook_count += 1
                hook = await webhooks_store.create(
                    conn,
                    site_id=self.site_id,
                    name=f"bench-{self.webhook_count:05d}",
                    event=event,
                    url=url,
                    is_enabled=True,
                    status_change_reason="",
                    owner_id=self.owner_id,
                )
                if signed:
                    await secrets_store.rotate(
                        conn,
                        hook.id,
                        secret=signing.generate_secret(),
                        old_expires_at=datetime.now(UTC),
                    )
                ids.append(hook.id)
        return ids

    async def emit(self, markers: Sequence[str], event: str = EVENT) -> float:
        """Emit one event per marker in ONE write transaction; returns the commit time."""
        async with self.store.write() as conn:
            for marker in markers:
                await emit_service.emit(
                    conn, event, site_id=self.site_id, resource_luid=marker, resource_name="bench"
                )
        return time.time()

    async def queue_by_status(self) -> dict[str, int]:
        async with self.store.read() as conn:
            rows = await conn.execute(
                select(deliveries.c.status, func.count()).group_by(deliveries.c.status)
            )
            return {str(status): int(n) for status, n in rows}


def tabhooks_settings(spec: dict[str, Any]) -> Settings:
    knobs: dict[str, Any] = {
        "database_url": spec.get("database_url") or f"sqlite:///{spec['db']}",
        "dev": True,  # http:// and 127.0.0.1 destinations, as with --dev
        "admin_password": ADMIN_PASSWORD,
    }
    knobs.update(spec.get("settings", {}))
    return Settings(**knobs)


@contextlib.asynccontextmanager
async def running_tabhooks(spec: dict[str, Any]) -> AsyncIterator[Tabhooks]:
    """``create_app`` served by uvicorn as ``tabhooks.cli.serve`` configures it."""
    settings = tabhooks_settings(spec)
    store = open_store(settings.database_url)
    handle = Tabhooks(create_app(settings, store), store, settings)
    handle.trace.install()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    config = uvicorn.Config(
        handle.app,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
        server_header=False,
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if serving.done():
            serving.result()
            raise RuntimeError("uvicorn stopped during start-up")
        await asyncio.sleep(0.01)
    async with store.read() as conn:
        site = await sites_store.get_by_content_url(conn, "")
        admin = await users_store.find_identity(conn, settings.admin_username)
    assert site is not None and admin is not None
    handle.site_id, handle.owner_id = site.id, str(admin["id"])
    try:
        yield handle
    finally:
        server.should_exit = True
        await serving


async def sustain(
    app: Tabhooks,
    receiver: ReceiverClient,
    *,
    until: float,
    healthy_per_event: int,
    batch: int,
    backlog: int,
) -> dict[str, Any]:
    """Emit events in ``batch``-event transactions so ``backlog`` healthy deliveries wait.

    Returns how many events and healthy deliveries were emitted and the emitting time spent.
    """
    emitted_events = 0
    emitted = 0
    emit_seconds = 0.0
    transactions = 0
    received_before = await receiver.count()
    while time.monotonic() < until:
        received = await receiver.count() - received_before
        while emitted - received < backlog and time.monotonic() < until:
            markers = [str(emitted_events + i) for i in range(batch)]
            started = time.perf_counter()
            await app.emit(markers)
            emit_seconds += time.perf_counter() - started
            transactions += 1
            emitted_events += batch
            emitted += batch * healthy_per_event
        await asyncio.sleep(POLL_S)
    return {
        "events": emitted_events,
        "healthy_deliveries": emitted,
        "emit_s": emit_seconds,
        "transactions": transactions,
    }


async def drain(
    app: Tabhooks, receiver: ReceiverClient, expected: int, timeout_s: float
) -> dict[str, Any]:
    """Wait for every healthy delivery to arrive; report what the receiver and store saw.

    The store is read before the receiver: a delivery is recorded as succeeded only after the
    receiver answered, so every success in the snapshot has arrived by the time it is counted.
    """
    started = time.monotonic()
    await receiver.wait_for(expected, timeout_s, poll_s=0.05)
    drained = time.monotonic() - started
    queued = await app.queue_by_status()
    stats = await receiver.stats()
    return {
        "expected": expected,
        "received": stats["count"],
        "duplicates": stats["duplicates"],
        "drain_s": drained,
        "queue": queued,
    }


async def phase_throughput(spec: dict[str, Any]) -> dict[str, Any]:
    """(b) One webhook on the receiver; sustained deliveries/s with a standing backlog."""
    async with running_tabhooks(spec) as app, receiver_client(spec["receiver"]) as receiver:
        await app.add_webhooks([f"{spec['receiver']}/hook/0"], signed=bool(spec.get("signed")))
        window, emitted = await sustained_load(app, receiver, spec)
        during = memory_mb()
        signed = await receiver.stats()
        if spec.get("signed") and signed.get("signed", 0) < signed["count"]:
            raise RuntimeError(f"unsigned deliveries arrived: {signed}")
        log(
            f"  tabhooks{' (signed)' if spec.get('signed') else ''}: "
            f"{window.rate:,.0f} deliveries/s over {window.seconds:.1f} s "
            f"({window.cpu_us_each:.0f} µs of server CPU each, emitting included); emitted "
            f"{emitted['events']:,} events in {emitted['transactions']:,} transactions, "
            f"{1000 * emitted['emit_s'] / max(1, emitted['events']):.2f} ms per event inside emit"
        )
        settled = await drain(app, receiver, emitted["healthy_deliveries"], spec["drain_s"])
        trace = app.trace.snapshot()
    return {
        "rate": window.rate,
        "window": window.as_dict(),
        "cpu_us_each": window.cpu_us_each,
        "emitted": emitted,
        "settled": settled,
        "trace": trace,
        "memory": {**memory_mb(), "rss_mb_during": during["rss_mb"]},
    }


async def phase_latency(spec: dict[str, Any]) -> dict[str, Any]:
    """(c) One webhook; events at a steady ``rate``/s; commit -> receipt.

    Event ``i`` is due at ``start + i / rate``. Each transaction emits every event that is due
    by then (one, when emitting keeps up), so the rate holds even if one transaction takes
    longer than ``1 / rate``; latency runs from the commit of the event's transaction.
    """
    rate = float(spec["rate"])
    count = int(rate * float(spec["seconds"]))
    commits: dict[str, float] = {}
    emit_lag: list[float] = []
    transactions = 0
    async with running_tabhooks(spec) as app, receiver_client(spec["receiver"]) as receiver:
        await app.add_webhooks([f"{spec['receiver']}/hook/0"])
        await app.emit(["warmup"])  # opens the sender's connection
        await receiver.wait_for(1, 10)
        await receiver.reset()
        start, cpu = time.monotonic(), time.process_time()
        sent = 0
        while sent < count:
            now = time.monotonic()
            due = min(count, int((now - start) * rate) + 1)
            if due <= sent:
                await asyncio.sleep(start + sent / rate - now)
                continue
            markers = [str(i) for i in range(sent, due)]
            committed = await app.emit(markers)
            committed_mono = time.monotonic()
            transactions += 1
            for i in range(sent, due):
                commits[str(i)] = committed
                emit_lag.append(1000 * (committed_mono - (start + i / rate)))
            sent = due
        emit_span = time.monotonic() - start
        busy = (time.process_time() - cpu) / emit_span
        settled = await drain(app, receiver, count, spec["drain_s"])
        settled["earlier"] = 1  # the warm-up event, received before the reset
        arrivals = await receiver.arrivals()
        trace = app.trace.snapshot()
    skip = int(rate * float(spec.get("skip_s", 0.0)))
    latencies = sorted(
        1000 * (arrived - commits[marker])
        for _, marker, arrived in arrivals
        if marker in commits and int(marker) >= skip
    )
    emit_lag.sort()
    achieved = count / emit_span
    log(
        f"  tabhooks: {count:,} events at {achieved:.0f}/s in {transactions:,} transactions; "
        f"commit->receipt p50 {_percentile(latencies, 50) or 0:.1f} / p95 "
        f"{_percentile(latencies, 95) or 0:.1f} / p99 {_percentile(latencies, 99) or 0:.1f} ms; "
        f"process CPU {100 * busy:.0f} % meanwhile"
    )
    return {
        "events": count,
        "achieved_rate": achieved,
        "busy": busy,
        "transactions": transactions,
        "emit_lag_p99_ms": _percentile(emit_lag, 99),
        "received": len(arrivals),
        "p50_ms": _percentile(latencies, 50),
        "p95_ms": _percentile(latencies, 95),
        "p99_ms": _percentile(latencies, 99),
        "max_ms": latencies[-1] if latencies else None,
        "settled": settled,
        "trace": trace,
        "memory": memory_mb(),
    }


def _percentile(sorted_values: list[float], pct: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


async def phase_fanout(spec: dict[str, Any]) -> dict[str, Any]:
    """(d) ``fanout`` webhooks on the receiver; one event; commit -> last receipt, repeated.

    Each event is paired with the ceiling's fan-out: ``fanout`` bare aiohttp POSTs
    (:class:`BareClient`, exactly as (a) sends them) from this same process, just before the
    event or just after it (alternately), while the dispatcher is idle. On this shared machine
    the ceiling's own fan-out moved from 117 to 208 ms within one run, more than the question
    asked here, so the ratio is taken per pair, measured a few hundred milliseconds apart.
    Both sides are measured warm (one unmeasured round each first).

    An event whose deliveries have not all arrived after ``rep_timeout_s`` ends the phase;
    its time is then a lower bound. No new event starts after ``budget_s``.
    """
    fanout = int(spec["fanout"])
    times: list[float] = []
    bare_times: list[float] = []
    cpu_us: list[float] = []
    complete = True
    async with (
        running_tabhooks(spec) as app,
        receiver_client(spec["receiver"]) as receiver,
        bare_client(
            spec["receiver"], int(spec["per_destination"]), int(spec["concurrency"])
        ) as bare,
    ):
        await app.add_webhooks([f"{spec['receiver']}/hook/{i}" for i in range(fanout)])

        async def event(marker: str) -> tuple[float, float | None]:
            """Commit -> last arrival, and CPU µs per delivery; the CPU is None when not every
            delivery arrived in time (the time is then a lower bound)."""
            await receiver.reset()
            cpu = time.process_time()
            app.trace._last_claim = time.monotonic()  # pauses count from the commit on
            committed = await app.emit([marker])
            got = await receiver.wait_for(fanout, float(spec["rep_timeout_s"]), poll_s=0.005)
            if got < fanout:
                waited = time.time() - committed
                log(f"  fan-out {marker}: only {got:,} of {fanout:,} arrived in {waited:.1f} s")
                return waited, None
            used = 1e6 * (time.process_time() - cpu) / fanout
            arrivals = await receiver.arrivals()
            await asyncio.sleep(0.3)  # let the writer record the batch before what comes next
            return max(t for _, _, t in arrivals) - committed, used

        await bare.fanout(fanout)
        warm_seconds, warm_cpu = await event("warm-up")
        complete = warm_cpu is not None
        if not complete:
            times.append(warm_seconds)
        budget_ends = time.monotonic() + float(spec["budget_s"])
        for rep in range(int(spec["fanout_reps"])):
            if not complete or (rep and time.monotonic() > budget_ends):
                break  # slow enough that more events would add time, not precision
            bare_first = rep % 2 == 0
            if bare_first:
                bare_times.append(await bare.fanout(fanout))
            seconds, used = await event(f"fanout{rep}")
            times.append(seconds)
            if used is None:
                complete = False
                break
            cpu_us.append(used)
            if not bare_first:
                bare_times.append(await bare.fanout(fanout))
        trace = app.trace.snapshot()
        queued = await app.queue_by_status()
        duplicates = (await receiver.stats())["duplicates"]
    log(
        f"  tabhooks: one event to {fanout:,} webhooks in "
        + ", ".join(f"{1000 * t:.0f}" for t in times)
        + " ms; paired with bare aiohttp's "
        + ", ".join(f"{1000 * t:.0f}" for t in bare_times)
        + " ms"
    )
    pairs = list(zip(times, bare_times, strict=False))
    if complete:
        ratio = statistics.median(t / b for t, b in pairs)
    else:  # a lower bound: the unfinished event against the typical bare fan-out
        ratio = times[-1] / statistics.median(bare_times or [float(spec["bare_fallback_s"])])
    return {
        "fanout_s": statistics.median(times) if complete else times[-1],
        "complete": complete,
        "fanout_all_s": times,
        "bare_fanout_s": statistics.median(bare_times) if bare_times else None,
        "bare_fanout_all_s": bare_times,
        "ratio": ratio,
        "cpu_us_each": statistics.median(cpu_us) if cpu_us else None,
        "duplicates": duplicates,
        "queue": queued,
        "trace": trace,
        "memory": memory_mb(),
    }


async def phase_isolation(spec: dict[str, Any]) -> dict[str, Any]:
    """(e) ``healthy`` webhooks on the receiver plus ``holes`` on the black hole."""
    healthy, holes = int(spec["healthy"]), int(spec["holes"])
    async with running_tabhooks(spec) as app, receiver_client(spec["receiver"]) as receiver:
        urls = [f"{spec['receiver']}/hook/{i}" for i in range(healthy)]
        urls += [f"{spec['blackhole']}/hook/{i}" for i in range(holes)]
        await app.add_webhooks(urls)
        window, emitted = await sustained_load(app, receiver, spec, healthy_per_event=healthy)
        label = f"with {holes} of {healthy + holes} on the black hole" if holes else "no black hole"
        stats = await receiver.stats()
        trace = app.trace.snapshot()
        log(
            f"  tabhooks ({label}): {window.rate:,.0f} healthy deliveries/s over "
            f"{window.seconds:.1f} s, process CPU {100 * window.cpu_s / window.seconds:.0f} % "
            f"of the window; black hole got {stats['blackhole_connections']} connections; "
            f"claim loop paused >= 0.5 s {trace['late_claims']} times"
        )
        settled = await drain(app, receiver, emitted["healthy_deliveries"], spec["drain_s"])
    return {
        "rate": window.rate,
        "window": window.as_dict(),
        "cpu_us_each": window.cpu_us_each,
        "emitted": emitted,
        "settled": settled,
        "blackhole_connections": stats["blackhole_connections"],
        "trace": trace,
        "memory": memory_mb(),
    }


async def phase_pending(spec: dict[str, Any]) -> dict[str, Any]:
    """(f) 100k deliveries to a receiver that is down; RSS idle, then while they are worked."""
    webhooks, events_per = int(spec["webhooks"]), int(spec["events"])
    async with running_tabhooks(spec) as app:
        await app.add_webhooks([f"{spec['down_url']}/hook/{i}" for i in range(webhooks)])
        started = time.perf_counter()
        for first in range(0, events_per, int(spec["emit_batch"])):
            last = min(events_per, first + int(spec["emit_batch"]))
            await app.emit([str(i) for i in range(first, last)])
        emit_s = time.perf_counter() - started
        queued = await app.queue_by_status()
        idle = memory_mb()
        log(
            f"  {sum(queued.values()):,} deliveries pending ({webhooks} webhooks x {events_per:,} "
            f"events, emitted in {emit_s:.1f} s); dispatcher off: RSS {idle['rss_mb']} MiB, "
            f"peak {idle['peak_rss_mb']} MiB"
        )
        samples: list[float] = []
        async with delivery_runtime(
            app.store, app.app.state.sender, app.settings, app.app.state.metrics
        ):
            deadline = time.monotonic() + float(spec["work_s"])
            while time.monotonic() < deadline:
                await asyncio.sleep(0.1)
                samples.append(memory_mb()["rss_mb"])
        worked = await app.queue_by_status()
        trace = app.trace.snapshot()
    working = memory_mb()
    log(
        f"  dispatcher on for {spec['work_s']} s, receiver down: {trace['finished_rows']:,} "
        f"attempts recorded, RSS up to {max(samples):.1f} MiB, process peak "
        f"{working['peak_rss_mb']} MiB; queue now {worked}"
    )
    return {
        "pending": sum(queued.values()),
        "emit_s": emit_s,
        "idle": idle,
        "working_rss_max_mb": max(samples),
        "memory": working,
        "queue_after": worked,
        "trace": trace,
    }


async def burst(
    app: Tabhooks,
    receiver: ReceiverClient,
    *,
    webhooks: int,
    events_count: int,
    drain_s: float,
    event: str = EVENT,
    add_webhooks: bool = True,
) -> dict[str, Any]:
    """``webhooks`` webhooks on one destination; ``events_count`` events emitted back to back,
    one per transaction (as that many API calls would); first emit -> last arrival.

    A warm-up event goes first (its deliveries open the connections) and is not counted.
    ``add_webhooks=False`` reuses the webhooks an earlier burst on ``event`` added.
    """
    expected = webhooks * events_count
    if add_webhooks:
        urls = [f"{receiver.base_url}/hook/{i}" for i in range(webhooks)]
        await app.add_webhooks(urls, event=event)
    succeeded_before = (await app.queue_by_status()).get("succeeded", 0)
    await app.emit(["warmup"], event=event)
    await receiver.wait_for(webhooks, 30, poll_s=0.02)
    await asyncio.sleep(0.3)  # let the writer record the warm-up
    await receiver.reset()
    app.trace.reset()
    cpu = time.process_time()
    first = time.time()
    for n in range(events_count):
        await app.emit([f"burst{n}"], event=event)
    emitted_in = time.time() - first
    got = await receiver.wait_for(expected, drain_s, poll_s=0.01)
    cpu_s = time.process_time() - cpu
    stats = await receiver.stats()
    seconds = (stats["last_arrival"] or time.time()) - first
    settled = await drain(app, receiver, expected, 5.0)
    # The warm-up event's deliveries and any earlier load's, all received before the reset.
    settled["earlier"] = succeeded_before + webhooks
    trace = app.trace.snapshot()
    rate = got / seconds if seconds > 0 else 0.0
    log(
        f"  {got:,} of {expected:,} deliveries in {seconds:.2f} s = {rate:,.0f}/s "
        f"({1e6 * cpu_s / max(1, got):.0f} µs of this process's CPU each; emitting took "
        f"{1000 * emitted_in:.0f} ms); claimed {trace['claimed_rows']:,} rows in "
        f"{trace['claims']:,} claims, handed back {trace['released_rows']:,}, claim loop "
        f"paused >= 0.5 s {trace['late_claims']} times"
    )
    return {
        "rate": rate,
        "seconds": seconds,
        "cpu_us_each": 1e6 * cpu_s / max(1, got),
        "emit_s": emitted_in,
        "settled": settled,
        "trace": trace,
    }


async def phase_burst(spec: dict[str, Any]) -> dict[str, Any]:
    """(g) A burst of events to many webhooks on one destination (see :func:`burst`)."""
    async with running_tabhooks(spec) as app, receiver_client(spec["receiver"]) as receiver:
        result = await burst(
            app,
            receiver,
            webhooks=int(spec["webhooks"]),
            events_count=int(spec["events"]),
            drain_s=float(spec["drain_s"]),
        )
    return {**result, "memory": memory_mb()}


async def phase_catchup(spec: dict[str, Any]) -> dict[str, Any]:
    """(h) Deliveries queued for one destination while no dispatcher ran, then one starts.

    The server runs with its dispatcher off while ``webhooks`` x ``events`` deliveries are
    emitted (a worker that was down); then a dispatcher starts in the same process, as when
    the worker comes back, and the rate is taken from its start to the last arrival.
    """
    webhooks, events_per = int(spec["webhooks"]), int(spec["events"])
    expected = webhooks * events_per
    async with running_tabhooks(spec) as app, receiver_client(spec["receiver"]) as receiver:
        await app.add_webhooks([f"{spec['receiver']}/hook/{i}" for i in range(webhooks)])
        started = time.perf_counter()
        for first in range(0, events_per, int(spec["emit_batch"])):
            last = min(events_per, first + int(spec["emit_batch"]))
            await app.emit([str(i) for i in range(first, last)])
        emit_s = time.perf_counter() - started
        idle = memory_mb()
        app.trace.reset()
        cpu = time.process_time()
        begun = time.time()
        async with delivery_runtime(
            app.store, app.app.state.sender, app.settings, app.app.state.metrics
        ):
            got = await receiver.wait_for(expected, float(spec["drain_s"]), poll_s=0.05)
            cpu_s = time.process_time() - cpu
            stats = await receiver.stats()
            settled = await drain(app, receiver, expected, 5.0)
        seconds = (stats["last_arrival"] or time.time()) - begun
        trace = app.trace.snapshot()
    rate = got / seconds if seconds > 0 else 0.0
    working = memory_mb()
    log(
        f"  {expected:,} deliveries queued ({webhooks} webhooks x {events_per:,} events, emitted "
        f"in {emit_s:.1f} s, RSS {idle['rss_mb']} MiB); dispatcher started: {got:,} arrived in "
        f"{seconds:.2f} s = {rate:,.0f}/s ({1e6 * cpu_s / max(1, got):.0f} µs of server CPU "
        f"each); claimed {trace['claimed_rows']:,} rows in {trace['claims']:,} claims, handed "
        f"back {trace['released_rows']:,}; peak RSS {working['peak_rss_mb']} MiB"
    )
    return {
        "rate": rate,
        "seconds": seconds,
        "cpu_us_each": 1e6 * cpu_s / max(1, got),
        "emit_s": emit_s,
        "idle": idle,
        "settled": settled,
        "trace": trace,
        "memory": working,
    }


# ----------------------------------------------------------------------------- PostgreSQL


def new_postgres_database(admin_url: str) -> str:
    """An empty database on the cluster at ``admin_url``; returns its URL."""
    name = f"tabhooks_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


@dataclass
class Worker:
    """A ``python -m tabhooks worker`` process; its output goes to ``log_path``."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def ready(self) -> bool:
        return "delivering" in self.log_path.read_text(errors="replace")

    def trouble(self) -> list[str]:
        return [
            line
            for line in self.log_path.read_text(errors="replace").splitlines()
            if line.startswith(("WARNING", "ERROR", "CRITICAL")) or "Traceback" in line
        ]

    def cpu_s(self) -> float:
        """User + system CPU seconds so far (``/proc/<pid>/stat``)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(15)


def launch_workers(count: int, settings: Settings, workdir: Path) -> list[Worker]:
    """``count`` worker processes on ``settings``' database (see :func:`wait_ready`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TABHOOKS_")}
    assert settings.secret_key is not None
    env.update(
        TABHOOKS_DATABASE_URL=settings.database_url,
        TABHOOKS_SECRET_KEY=settings.secret_key.get_secret_value(),
        TABHOOKS_DEV="true",
        PYTHONUNBUFFERED="1",
    )
    workers = []
    for n in range(count):
        log_path = workdir / f"worker-{uuid.uuid4().hex[:6]}-{n}.log"
        with log_path.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "tabhooks", "worker"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        workers.append(Worker(process, log_path))
    return workers


async def wait_ready(workers: list[Worker]) -> None:
    deadline = time.monotonic() + 60
    while not all(w.ready() for w in workers):
        if time.monotonic() > deadline or any(w.process.poll() is not None for w in workers):
            for worker in workers:
                worker.stop()
            tails = "\n".join(w.log_path.read_text(errors="replace")[-2000:] for w in workers)
            raise RuntimeError(f"tabhooks worker did not start:\n{tails}")
        await asyncio.sleep(0.1)


async def phase_postgres(spec: dict[str, Any]) -> dict[str, Any]:
    """(j) An API process (this one, dispatcher off) and 1, then 2, worker processes on a
    fresh PostgreSQL database: the (b) load, then the (g) load, with each worker count.

    Events are emitted here, as an API call would; the workers learn of them by NOTIFY and
    claim them with ``FOR UPDATE SKIP LOCKED``. The rates are the receiver's counts. One
    database and one API process serve both counts: the second worker joins the first.
    """
    spec = {**spec, "database_url": new_postgres_database(spec["admin_url"])}
    found: dict[str, Any] = {}
    workers: list[Worker] = []
    async with running_tabhooks(spec) as app, receiver_client(spec["receiver"]) as receiver:
        try:
            await app.add_webhooks([f"{spec['receiver']}/hook/0"])
            for count in spec["worker_counts"]:
                joining = launch_workers(count - len(workers), app.settings, Path(spec["workdir"]))
                workers += joining
                await wait_ready(joining)
                found[str(count)] = await _postgres_loads(app, receiver, spec, workers, count)
        finally:
            for worker in workers:
                worker.stop()
        trouble = [line for worker in workers for line in worker.trouble()]
    return {**found, "worker_trouble": trouble, "memory": memory_mb()}


async def _postgres_loads(
    app: Tabhooks,
    receiver: ReceiverClient,
    spec: dict[str, Any],
    workers: list[Worker],
    count: int,
) -> dict[str, Any]:
    """The (b) and (g) loads with ``count`` workers running."""
    await receiver.reset()
    succeeded_before = (await app.queue_by_status()).get("succeeded", 0)
    cpu0 = sum(w.cpu_s() for w in workers)
    window, emitted = await sustained_load(app, receiver, spec)
    workers_us = 1e6 * (sum(w.cpu_s() for w in workers) - cpu0) / max(1, window.count)
    log(
        f"  (b) load, {count} worker(s): {window.rate:,.0f} deliveries/s over "
        f"{window.seconds:.1f} s (workers' CPU {workers_us:.0f} µs each, warm-up included; "
        f"{1000 * emitted['emit_s'] / max(1, emitted['events']):.2f} ms per event inside emit)"
    )
    settled = await drain(app, receiver, emitted["healthy_deliveries"], spec["drain_s"])
    settled["earlier"] = succeeded_before
    await receiver.reset()
    log(f"  (g) load, {count} worker(s):")
    bursted = await burst(
        app,
        receiver,
        webhooks=int(spec["webhooks"]),
        events_count=int(spec["events"]),
        drain_s=float(spec["drain_s"]),
        event=BURST_EVENT,
        add_webhooks=count == spec["worker_counts"][0],
    )
    return {
        "rate": window.rate,
        "window": window.as_dict(),
        "workers_cpu_us_each": workers_us,
        "emitted": emitted,
        "settled": settled,
        "burst": bursted,
        "burst_rate": bursted["rate"],
    }


PHASES: dict[str, Callable[[dict[str, Any]], Coroutine[Any, Any, dict[str, Any]]]] = {
    "burst": phase_burst,
    "catchup": phase_catchup,
    "postgres": phase_postgres,
    "ceiling": phase_ceiling,
    "throughput": phase_throughput,
    "latency": phase_latency,
    "fanout": phase_fanout,
    "isolation": phase_isolation,
    "pending": phase_pending,
}


def main() -> None:
    phase, spec = sys.argv[1], json.loads(sys.argv[2])
    # As ``tabhooks serve`` does; the bench sends this process's stderr to a log file.
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    try:
        import uvloop
    except ImportError:
        run = asyncio.run
    else:
        run = uvloop.run
    result: dict[str, Any] = run(PHASES[phase](spec))
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
