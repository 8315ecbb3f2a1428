"""How fast does tabhooks deliver webhooks, relative to bare HTTP on this machine?

Run: ``.venv/bin/python bench/delivery.py [--quick]`` (a benchmark, not a timed test; quick
takes about two minutes, the full run about six). Everything stays on 127.0.0.1.

Processes. A receiver (``_delivery_receiver.py``: aiohttp.web, answers ``200`` at once,
records path, payload marker and arrival time of every request) and a black hole (accepts
TCP connections, never answers) run in one process for the whole run. Each measurement runs in
a fresh process (``_delivery_engine.py``), so its memory figures are its own.

What "tabhooks end-to-end" means here. The engine process *is* a tabhooks server built the way
``tabhooks serve --dev`` builds it: :func:`tabhooks.api.app.create_app` on a fresh SQLite file
(migrate, bootstrap, the shared sender, the dispatcher started by ``delivery_runtime``), served
by uvicorn with serve's settings on uvloop. Events are emitted inside that process through the
service layer — :func:`tabhooks.services.emit.emit` in ``async with store.write()`` — which is
what an API call that fires an event does, so the dispatcher is woken the way it is in
production and the API-side cost of emitting shares the loop with delivery, as it does in
``serve``. Emitting from a second process was rejected: on SQLite nothing wakes the dispatcher
across processes, so it would measure the 1 s poll interval, not the engine; going through
the on-demand events endpoint would add HTTP parsing on the same two cores. Webhooks are
created through the store before timing starts; none has a signing secret (the default)
except in (i).

What is measured, in one run:

(a) **ceiling** — bare :mod:`aiohttp` POSTs of the same payload, with the same headers, to the
    same receiver, from as many workers as tabhooks keeps in flight per destination
    (``delivery_per_destination``, 32), over one pooled session: sustained POSTs/s, and the
    time 1,000 POSTs take.

(a), (b) and (i) run in rounds — (a) (b) (i), then (a) (i) (b), ... (three rounds in the full
run, one in quick) — and every ratio between them is the median over the rounds of the ratio
within a round: measured minutes apart on this shared machine, one load's CPU per delivery
moved by a quarter, more than the figures asked for.

(b) **throughput** — one webhook; events emitted in 50-event transactions whenever fewer than
    500 deliveries wait (checked every 50 ms), so the queue never runs dry; deliveries/s
    received over the window after a warm-up. ``throughput_ratio`` = (b) ÷ (a). Afterwards
    every emitted delivery must arrive exactly once and end ``succeeded``. (g) and (h) are
    compared with the median (b).
(c) **latency** — one webhook, events due at a steady 500/s; each transaction emits the events
    due by the time it starts (one per transaction while emitting keeps up), so the rate holds;
    latency is receiver arrival - commit of the event's transaction (both ``time.time()`` on
    this machine); p50/p95/p99 after a 0.5 s warm-up. How many transactions it took and how
    late commits ran behind schedule are printed too.
(d) **fan-out** — 1,000 webhooks on the receiver, one event: commit → last arrival, for up
    to five events (fewer when they are slow), after one unmeasured. Each event is paired
    with (a)'s fan-out — 1,000 bare aiohttp POSTs, the same client code — run in the same
    process just before or just after it (alternately), with the dispatcher idle.
    ``fanout_ratio`` = the median over the pairs of event time ÷ bare time. (a)'s own
    1,000-POST figure, taken minutes earlier in another process, is printed for reference: on
    this shared machine it moved from 117 to 208 ms within one run, more than the figure
    asked for. An event not fully delivered within the plan's limit (3 s quick, 60 s full)
    ends the phase and its time is a lower bound (flagged in the output).
(e) **isolation** — 90 webhooks on the receiver, then the same 90 plus 10 on the black hole
    (10 %), with ``TABHOOKS_DELIVERY_TIMEOUT_S=2`` in both runs; one event (90 or 100
    deliveries) per transaction, with a backlog kept as in (b); sustained healthy
    deliveries/s. The two runs alternate (three pairs in the full run, one in quick) and
    ``isolation_ratio`` is the median of with ÷ without over the pairs. The black hole is
    addressed as ``localhost`` (a different destination host that resolves to 127.0.0.1);
    the full run also tries it on ``127.0.0.1`` itself, a different port of the receiver's host.
(f) **memory** — ``peak_rss_mb`` is the (b) process's ``VmHWM`` (start-up included);
    ``rss_mb_100k_pending`` is the ``VmHWM`` of a server that emitted 100,000 deliveries
    (100 webhooks x 1,000 events) with the dispatcher off, then ran the dispatcher for a few
    seconds against a receiver that is down (a closed port: every attempt is refused and
    rescheduled), so the figure covers holding, claiming and recording a 100k queue.
(g) **burst** — 500 webhooks on the receiver (one destination), 20 events emitted back to
    back, one per transaction, as 20 publishes would (10,000 deliveries; quick: 10 events);
    deliveries/s from the first emit to the last arrival. ``backlog_ratio`` = (g) ÷ (b).
(h) **catch-up** — 100,000 deliveries for one destination (100 webhooks x 1,000 events;
    quick: 10,000) emitted while the dispatcher is off, as for a worker that was down; then
    the dispatcher starts: deliveries/s from its start to the last arrival.
    ``catchup_ratio`` = (h) ÷ (b); ``catchup_peak_rss_mb`` is that process's ``VmHWM``.
(i) **signed** — (b) with a signing secret on the webhook (stored sealed, as the API stores
    it), so every delivery carries a Standard Webhooks signature; the receiver counts the
    signed requests. ``signed_ratio`` = (i) ÷ (b).
(j) **PostgreSQL** — an API process (this benchmark's engine with its dispatcher off, emitting
    as in (b)) and 1, then 2, ``tabhooks worker`` processes on a fresh database of a
    throwaway cluster (``TABHOOKS_TEST_POSTGRES_URL``, else one started with
    ``scripts/lib/postgres.sh``; skipped without PostgreSQL): the (b) load, then the (g) load
    (quick: 4 events). ``pg_w1_rate`` and ``pg_w2_rate`` are the (b) load's deliveries/s;
    their ratio to SQLite's (b) is printed. No target: client, server and workers share two
    cores.

The machine is small and may be shared: the load average is printed with every phase, and
ratios are taken between measurements made minutes apart at most. Next to every rate the
benchmark prints the process's CPU time per delivery (steadier than rates on a shared
machine) and what the dispatcher asked of the queue — rows claimed, rows handed back, claim
loop pauses of 0.5 s or more — counted by wrappers around ``tabhooks.store.deliveries``.
Every phase checks that each delivery arrived exactly once and none is left queued.

The last line printed is one JSON object: ``{"throughput_ratio", "p99_ms_at_500",
"fanout_ratio", "isolation_ratio", "peak_rss_mb", "rss_mb_100k_pending", "backlog_ratio",
"catchup_ratio", "catchup_peak_rss_mb", "signed_ratio", "pg_w1_rate", "pg_w2_rate"}``;
targets are ≥ 0.5, ≤ 50, ≤ 2.0, ≥ 0.9, ≤ 300, ≤ 300, ≥ 0.8, ≥ 0.8, ≤ 300 and ≥ 0.85 (none
for the PostgreSQL rates, which are ``null`` when it was skipped).

``--profile`` runs every tabhooks phase under ``py-spy record`` (pip install py-spy) and keeps
its folded stacks (``<phase>.folded.txt``, for flamegraph.pl or speedscope) in the work
directory (``--workdir``); profiled figures are slower.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from _delivery_procs import PhaseRun, Receiver, run_phase, start_receiver
from _postgres import postgres_cluster

TARGETS: dict[str, tuple[str, float]] = {
    "throughput_ratio": (">=", 0.5),
    "p99_ms_at_500": ("<=", 50.0),
    "fanout_ratio": ("<=", 2.0),
    "isolation_ratio": (">=", 0.9),
    "peak_rss_mb": ("<=", 300.0),
    "rss_mb_100k_pending": ("<=", 300.0),
    "backlog_ratio": (">=", 0.8),
    "catchup_ratio": (">=", 0.8),
    "catchup_peak_rss_mb": ("<=", 300.0),
    "signed_ratio": (">=", 0.85),
}
#: Reported without a target (PostgreSQL on a two-core machine shared with its clients).
UNTARGETED = ("pg_w1_rate", "pg_w2_rate")
PER_DESTINATION = 32
CONCURRENCY = 512
FANOUT = 1_000
LATENCY_RATE = 500.0
#: A short attempt timeout for the isolation runs, so black-hole attempts end within the window
#: (the lease stays at its default, so the dispatcher may hold deliveries as it normally does).
BLACKHOLE_SETTINGS = {"delivery_timeout_s": 2.0}


@dataclass(frozen=True)
class Plan:
    """Counts and durations; ``--quick`` trades precision for time."""

    warmup_s: float
    window_s: float
    fanout_reps: int
    latency_s: float
    pending_work_s: float
    #: Longest wait for a sustained run's backlog to arrive after emitting stops.
    drain_s: float
    #: The same for the isolation runs (their durability is not the question there).
    isolation_drain_s: float
    #: Longest wait for one fan-out event; a slower one ends (d) with a lower bound.
    fanout_timeout_s: float
    #: No new fan-out event starts after this long.
    fanout_budget_s: float
    same_host_isolation: bool
    #: Alternating (without, with) black-hole pairs; the ratio is their median.
    isolation_rounds: int
    #: Rounds of (a), (b) and (i); each ratio is the median of the rounds' ratios.
    sustained_rounds: int
    emit_batch: int = 50
    backlog: int = 500
    pending_webhooks: int = 100
    pending_events: int = 1_000
    pending_emit_batch: int = 20
    burst_webhooks: int = 500
    burst_events: int = 20
    #: (j)'s burst (PostgreSQL emits far slower, and the run does it twice).
    pg_burst_events: int = 20
    catchup_webhooks: int = 100
    catchup_events: int = 1_000


QUICK = Plan(
    warmup_s=0.5,
    window_s=3.0,
    fanout_reps=2,
    latency_s=3.0,
    pending_work_s=2.0,
    drain_s=3.0,
    isolation_drain_s=1.0,
    fanout_timeout_s=3.0,
    fanout_budget_s=3.0,
    same_host_isolation=False,
    isolation_rounds=1,
    sustained_rounds=1,
    burst_events=10,
    pg_burst_events=4,
    catchup_webhooks=10,
)
FULL = Plan(
    warmup_s=2.0,
    window_s=10.0,
    fanout_reps=5,
    latency_s=20.0,
    pending_work_s=10.0,
    drain_s=60.0,
    isolation_drain_s=5.0,
    fanout_timeout_s=60.0,
    fanout_budget_s=20.0,
    same_host_isolation=True,
    isolation_rounds=3,
    sustained_rounds=3,
)


def log(message: str) -> None:
    print(message, flush=True)


def load_average() -> str:
    return Path("/proc/loadavg").read_text().split(" ", 1)[0]


def closed_port() -> int:
    """A port on 127.0.0.1 nobody listens on (bound, then released): a receiver that is down."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Bench:
    """Runs the phases in order against one receiver and collects what they report."""

    def __init__(
        self,
        plan: Plan,
        workdir: Path,
        receiver: Receiver,
        profile: bool,
        postgres_url: str | None = None,
    ) -> None:
        self.plan = plan
        self.workdir = workdir
        self.receiver = receiver
        self.profile = profile
        self.postgres_url = postgres_url
        self.runs: dict[str, PhaseRun] = {}

    def run(
        self, phase: str, title: str, spec: dict[str, Any], name: str | None = None
    ) -> dict[str, Any]:
        name = name or phase
        log(f"\n{title} [load {load_average()}]")
        if phase != "ceiling":
            db = self.workdir / f"{name}.db"
            for leftover in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
                leftover.unlink(missing_ok=True)  # every phase starts on a fresh store
            spec = {"db": str(db), **spec}
        prefix: list[str] = []
        if self.profile and phase != "ceiling":
            spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
            stacks = str(self.workdir / f"{name}.folded.txt")
            prefix = [spy, "record", "-r", "200", "-f", "raw", "-o", stacks, "--"]
        started = time.perf_counter()
        run = run_phase(
            phase,
            {"receiver": self.receiver.url, **spec},
            self.workdir,
            echo=log,
            prefix=prefix,
            name=name,
        )
        log(f"  [{time.perf_counter() - started:.1f} s, load {load_average()}]")
        self.runs[name] = run
        return run.result

    def sustained(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        spec = {
            "warmup_s": self.plan.warmup_s,
            "window_s": self.plan.window_s,
            "emit_batch": self.plan.emit_batch,
            "backlog": self.plan.backlog,
            "drain_s": self.plan.drain_s,
        }
        return {**spec, **(extra or {})}

    def ceiling(self, round_number: int) -> dict[str, Any]:
        spec = {
            "per_destination": PER_DESTINATION,
            "concurrency": CONCURRENCY,
            "warmup_s": self.plan.warmup_s / 2,
            "window_s": self.plan.window_s,
            "fanout": FANOUT,
            "fanout_reps": self.plan.fanout_reps,
        }
        title = f"(a) ceiling, round {round_number}: bare aiohttp, {PER_DESTINATION} in flight"
        return self.run("ceiling", title, spec, name=f"ceiling-{round_number}")

    def all(self) -> dict[str, Any]:
        plan = self.plan
        ceilings, unsigned, signed = self.sustained_rounds()
        latency = self.run(
            "latency",
            f"(c) latency at {LATENCY_RATE:.0f} events/s, one event per transaction",
            {
                "rate": LATENCY_RATE,
                "seconds": plan.latency_s,
                "skip_s": 0.5,
                "drain_s": plan.drain_s,
            },
        )
        fanout = self.run(
            "fanout",
            f"(d) fan-out: one event to {FANOUT:,} webhooks, each paired with bare aiohttp",
            {
                "fanout": FANOUT,
                "per_destination": PER_DESTINATION,
                "concurrency": CONCURRENCY,
                "bare_fallback_s": ceilings[0]["fanout_s"],
                "fanout_reps": plan.fanout_reps,
                "rep_timeout_s": plan.fanout_timeout_s,
                "budget_s": plan.fanout_budget_s,
            },
        )
        isolation_spec = self.sustained(
            {
                "settings": BLACKHOLE_SETTINGS,
                "healthy": 90,
                "emit_batch": 1,
                "drain_s": plan.isolation_drain_s,
            }
        )
        without: list[dict[str, Any]] = []
        with_holes: list[dict[str, Any]] = []
        holes = {"holes": 10, "blackhole": self.receiver.blackhole_url("localhost")}
        for n in range(1, plan.isolation_rounds + 1):
            # Alternated, so both sides of each ratio meet about the same machine.
            without.append(
                self.run(
                    "isolation",
                    f"(e) isolation, round {n}: 90 healthy webhooks, no black hole",
                    {**isolation_spec, "holes": 0, "blackhole": ""},
                    name=f"isolation-baseline-{n}",
                )
            )
            with_holes.append(
                self.run(
                    "isolation",
                    f"(e) isolation, round {n}: 90 healthy + 10 on the black hole at localhost",
                    {**isolation_spec, **holes},
                    name=f"isolation-blackhole-{n}",
                )
            )
        same_host = None
        if plan.same_host_isolation:
            holes = {"holes": 10, "blackhole": self.receiver.blackhole_url("127.0.0.1")}
            same_host = self.run(
                "isolation",
                "(e') isolation: the black hole on the receiver's host (127.0.0.1, other port)",
                {**isolation_spec, **holes},
                name="isolation-samehost",
            )
        pending = self.run(
            "pending",
            "(f) memory: 100,000 deliveries pending, receiver down",
            {
                "settings": {"dispatcher_enabled": False},
                "webhooks": plan.pending_webhooks,
                "events": plan.pending_events,
                "emit_batch": plan.pending_emit_batch,
                "work_s": plan.pending_work_s,
                "down_url": f"http://127.0.0.1:{closed_port()}",
            },
        )
        burst = self.run(
            "burst",
            f"(g) burst: {plan.burst_webhooks} webhooks on one destination, "
            f"{plan.burst_events} events back to back",
            {
                "webhooks": plan.burst_webhooks,
                "events": plan.burst_events,
                "drain_s": max(60.0, plan.drain_s),  # a bound, never reached when all is well
            },
        )
        catchup_count = plan.catchup_webhooks * plan.catchup_events
        catchup = self.run(
            "catchup",
            f"(h) catch-up: {catchup_count:,} deliveries queued for one destination, "
            "then the dispatcher starts",
            {
                "settings": {"dispatcher_enabled": False},
                "webhooks": plan.catchup_webhooks,
                "events": plan.catchup_events,
                "emit_batch": plan.pending_emit_batch,
                "drain_s": 600.0,  # a bound: 100,000 at a few hundred a second on a busy box
            },
        )
        postgres = self.postgres()
        return {
            "ceiling_rounds": ceilings,
            "throughput": unsigned[0],
            "throughput_rounds": unsigned,
            "latency": latency,
            "fanout": fanout,
            "isolation_without": without,
            "isolation_with": with_holes,
            "isolation_same_host": same_host,
            "pending": pending,
            "burst": burst,
            "catchup": catchup,
            "signed_rounds": signed,
            "postgres": postgres,
        }

    def sustained_rounds(
        self,
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        """Rounds of (a), then (b) and (i) in alternating order: (a) (b) (i), (a) (i) (b), ...

        Measured minutes apart, the same load's CPU per delivery moved by a quarter on this
        machine (261 µs in (b), 361 µs in (i) of one run, while signing is 3.5 % of (i)'s
        profile), and (a) by a tenth between the start and the end of a run. So each ratio
        is taken within a round, between measurements a few seconds apart, and over rounds
        in both orders so that drift cancels.

        Returns:
            The ceilings, the (b) runs and the (i) runs, one of each per round.
        """
        ceilings: list[dict[str, Any]] = []
        unsigned: list[dict[str, Any]] = []
        signed: list[dict[str, Any]] = []
        for n in range(1, self.plan.sustained_rounds + 1):
            ceilings.append(self.ceiling(n))
            plain = (
                "throughput",
                f"(b) tabhooks end-to-end, one webhook, sustained (round {n})",
                {},
                unsigned,
            )
            keyed = (
                "signed",
                f"(i) signed, round {n}: (b) with a signing secret on the webhook",
                {"signed": True},
                signed,
            )
            for name, title, extra, runs in (plain, keyed) if n % 2 else (keyed, plain):
                spec = self.sustained(extra)
                runs.append(self.run("throughput", title, spec, name=f"{name}-{n}"))
        return ceilings, unsigned, signed

    def postgres(self) -> dict[str, Any]:
        """(j) One API process and 1, then 2, workers on PostgreSQL; the (b) and (g) loads."""
        if self.postgres_url is None:
            log(
                "\n(j) PostgreSQL: no cluster (no TABHOOKS_TEST_POSTGRES_URL, no binaries): skipped"
            )
            return {}
        plan = self.plan
        return self.run(
            "postgres",
            "(j) PostgreSQL: an API process, and 1 then 2 worker processes",
            self.sustained(
                {
                    "admin_url": self.postgres_url,
                    "workdir": str(self.workdir),
                    "worker_counts": [1, 2],
                    "webhooks": plan.burst_webhooks,
                    "events": plan.pg_burst_events,
                    "drain_s": max(60.0, plan.drain_s),
                    "settings": {
                        "dispatcher_enabled": False,
                        "secret_key": Fernet.generate_key().decode(),
                    },
                }
            ),
        )


def isolation_ratios(results: dict[str, Any]) -> list[float]:
    pairs = zip(results["isolation_without"], results["isolation_with"], strict=True)
    return [with_["rate"] / without["rate"] for without, with_ in pairs]


def throughput_ratios(results: dict[str, Any]) -> list[float]:
    """(b) ÷ (a), per round."""
    pairs = zip(results["ceiling_rounds"], results["throughput_rounds"], strict=True)
    return [unsigned["rate"] / ceiling["rate"] for ceiling, unsigned in pairs]


def signed_ratios(results: dict[str, Any]) -> list[float]:
    """(i) ÷ (b), per round."""
    pairs = zip(results["throughput_rounds"], results["signed_rounds"], strict=True)
    return [signed["rate"] / unsigned["rate"] for unsigned, signed in pairs]


def figures(results: dict[str, Any]) -> dict[str, float | None]:
    latency = results["latency"]
    throughput = statistics.median(r["rate"] for r in results["throughput_rounds"])
    postgres = results["postgres"]
    return {
        "throughput_ratio": round(statistics.median(throughput_ratios(results)), 3),
        "p99_ms_at_500": round(latency["p99_ms"], 1) if latency["p99_ms"] is not None else None,
        "fanout_ratio": round(results["fanout"]["ratio"], 2),
        "isolation_ratio": round(statistics.median(isolation_ratios(results)), 3),
        "peak_rss_mb": results["throughput"]["memory"]["peak_rss_mb"],
        "rss_mb_100k_pending": results["pending"]["memory"]["peak_rss_mb"],
        "backlog_ratio": round(results["burst"]["rate"] / throughput, 3),
        "catchup_ratio": round(results["catchup"]["rate"] / throughput, 3),
        "catchup_peak_rss_mb": results["catchup"]["memory"]["peak_rss_mb"],
        "signed_ratio": round(statistics.median(signed_ratios(results)), 3),
        "pg_w1_rate": round(postgres["1"]["rate"]) if postgres else None,
        "pg_w2_rate": round(postgres["2"]["rate"]) if postgres else None,
    }


def check_delivery(runs: dict[str, PhaseRun]) -> list[str]:
    """Every anomaly the phases reported: losses, duplicates, stuck rows, log trouble."""
    problems = []
    for name, run in runs.items():
        problems += _settled_problems(name, run.result)
        for workers in ("1", "2") if name == "postgres" else ():
            loads = run.result[workers]
            problems += _settled_problems(f"{name} {workers} worker(s), (b) load", loads)
            problems += _settled_problems(f"{name} {workers} worker(s), (g) load", loads["burst"])
        for line in run.result.get("worker_trouble", [])[:3]:
            problems.append(f"{name}: a worker logged: {line}")
        if run.trouble:
            shown = "; ".join(run.trouble[:3])
            problems.append(f"{name}: {len(run.trouble)} log lines above INFO ({shown})")
    return problems


def _settled_problems(name: str, result: dict[str, Any]) -> list[str]:
    """Losses, duplicates and stuck rows in one phase's (or load's) settled figures."""
    problems = []
    settled = result.get("settled")
    if settled:
        queue = settled["queue"]
        missing = settled["expected"] - settled["received"]
        queued = queue.get("pending", 0) + queue.get("delivering", 0)
        # The isolation runs drain briefly (the question there is rate, not completeness)
        # and their black-hole deliveries stay queued, so only loss counts for them.
        if missing > queued:
            problems.append(
                f"{name}: LOST {missing - queued} deliveries: {settled['received']} of "
                f"{settled['expected']} arrived and the queue holds {queue}"
            )
        elif missing > 0 and not name.startswith("isolation"):
            problems.append(
                f"{name}: {missing} of {settled['expected']} deliveries still queued "
                f"{settled['drain_s']:.0f} s after emitting stopped (queue: {queue})"
            )
        if queue.get("succeeded", 0) > settled["received"] + settled.get("earlier", 0):
            problems.append(
                f"{name}: {queue['succeeded']} deliveries recorded as succeeded but only "
                f"{settled['received']} arrived"
            )
        if settled["duplicates"]:
            problems.append(f"{name}: {settled['duplicates']} duplicate deliveries")
    elif result.get("duplicates"):
        problems.append(f"{name}: {result['duplicates']} duplicate deliveries")
    return problems


def summary(results: dict[str, Any], figs: dict[str, float | None]) -> None:
    thr, lat, fan = results["throughput"], results["latency"], results["fanout"]
    iso_without, iso_with = results["isolation_without"], results["isolation_with"]
    log("\nsummary")
    rounds = zip(
        results["ceiling_rounds"],
        results["throughput_rounds"],
        results["signed_rounds"],
        throughput_ratios(results),
        signed_ratios(results),
        strict=True,
    )
    for n, (ceiling, unsigned, signed, b_ratio, i_ratio) in enumerate(rounds, 1):
        log(
            f"  round {n}: (a) {ceiling['rate']:,.0f} POSTs/s ({ceiling['cpu_us_each']:.0f} µs "
            f"client CPU each; {FANOUT:,} POSTs in {1000 * ceiling['fanout_s']:.0f} ms); "
            f"(b) {unsigned['rate']:,.0f} deliveries/s = {b_ratio:.3f} x (a) "
            f"({unsigned['cpu_us_each']:.0f} µs server CPU each, emitting included); "
            f"(i) signed {signed['rate']:,.0f}/s = {i_ratio:.3f} x (b) "
            f"({signed['cpu_us_each']:.0f} µs each)"
        )
    trace = thr["trace"]
    log(
        f"  throughput_ratio = median {figs['throughput_ratio']}, signed_ratio = median "
        f"{figs['signed_ratio']}; in round 1's (b) the dispatcher claimed "
        f"{trace['claimed_rows']:,} rows and handed back {trace['released_rows']:,} for "
        f"{trace['finished_rows']:,} attempts"
    )
    log(
        f"  (c) p50 {lat['p50_ms']:.1f} / p95 {lat['p95_ms']:.1f} / p99 {lat['p99_ms']:.1f} ms, "
        f"max {lat['max_ms']:.0f} ms at {lat['achieved_rate']:.0f} events/s in "
        f"{lat['transactions']:,} transactions (commits up to {lat['emit_lag_p99_ms']:.0f} ms "
        f"behind schedule at p99; server CPU {100 * lat['busy']:.0f} % busy)"
    )
    bound = "" if fan["complete"] else "MORE THAN "
    bare = f"{1000 * fan['bare_fanout_s']:.0f} ms" if fan["bare_fanout_s"] else "-"
    log(
        f"  (d) fan-out to {FANOUT:,} in {bound}{1000 * fan['fanout_s']:.0f} ms; bare aiohttp's "
        f"{FANOUT:,} POSTs next to each event {bare}; median ratio of the pairs {bound}"
        f"{figs['fanout_ratio']} (the dispatcher alone, {FANOUT / fan['fanout_s']:,.0f} "
        "deliveries/s"
        + (f", {fan['cpu_us_each']:.0f} µs server CPU each" if fan["cpu_us_each"] else "")
        + f"; claim loop paused >= 0.5 s {fan['trace']['late_claims']} times, longest "
        f"{fan['trace']['longest_pause_s']:.2f} s)"
    )
    for n, (without, with_) in enumerate(zip(iso_without, iso_with, strict=True), 1):
        log(
            f"  (e) round {n}: healthy {with_['rate']:,.0f}/s with the black hole vs "
            f"{without['rate']:,.0f}/s without = {with_['rate'] / without['rate']:.3f}"
        )
        stalled = without["trace"]["late_claims"]
        busy = without["window"]["cpu_s"] / without["window"]["seconds"]
        if stalled and busy < 0.5:
            log(
                f"      NOTE: without the black hole the server was busy only {100 * busy:.0f} % "
                f"of the window and its claim loop paused >= 0.5 s {stalled} times: that "
                "baseline is stall-bound, so the ratio measures stalls more than isolation"
            )
    log(f"      isolation_ratio = median {figs['isolation_ratio']}")
    same = results["isolation_same_host"]
    if same:
        baseline = statistics.median(r["rate"] for r in iso_without)
        log(
            f"      black hole on the receiver's host: {same['rate']:,.0f}/s = "
            f"{same['rate'] / baseline:.3f} of the median baseline"
        )
    pending = results["pending"]
    log(
        f"  (f) peak RSS {figs['peak_rss_mb']} MiB during (b); {pending['pending']:,} pending: "
        f"{pending['idle']['rss_mb']} MiB idle, {figs['rss_mb_100k_pending']} MiB peak while "
        f"the dispatcher worked them against a receiver that is down"
    )
    for key, label, run in (
        ("backlog_ratio", "(g) burst", results["burst"]),
        ("catchup_ratio", "(h) catch-up", results["catchup"]),
    ):
        trace = run["trace"]
        log(
            f"  {label} {run['rate']:,.0f} deliveries/s = {figs[key]} x (b) "
            f"({run['cpu_us_each']:.0f} µs server CPU each; claimed {trace['claimed_rows']:,} "
            f"rows in {trace['claims']:,} claims, handed back {trace['released_rows']:,})"
        )
    log(f"      (h) peak RSS {figs['catchup_peak_rss_mb']} MiB")
    for workers in ("1", "2") if results["postgres"] else ():
        run = results["postgres"][workers]
        log(
            f"  (j) PostgreSQL, {workers} worker(s): (b) load {run['rate']:,.0f}/s = "
            f"{run['rate'] / thr['rate']:.3f} x SQLite's (b); (g) load {run['burst_rate']:,.0f}/s"
        )


def verdict(figs: dict[str, float | None]) -> str:
    parts = []
    for key, (op, target) in TARGETS.items():
        value = figs[key]
        ok = value is not None and (value >= target if op == ">=" else value <= target)
        parts.append(f"{key} {value} ({'ok' if ok else 'MISSED'}, target {op} {target:g})")
    parts += [f"{key} {figs[key]} (no target)" for key in UNTARGETED]
    return "; ".join(parts)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="shorter windows (about 2 min)")
    parser.add_argument("--workdir", type=Path, help="keep databases, logs and profiles here")
    parser.add_argument("--profile", action="store_true", help="record each phase with py-spy")
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    plan = QUICK if args.quick else FULL
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tabhooks-delivery-") as scratch:
        workdir = args.workdir or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        receiver = start_receiver(workdir)
        try:
            log(
                f"receiver at {receiver.url} (pid {receiver.process.pid}); black hole at port "
                f"{receiver.blackhole_port}; {os.cpu_count()} CPUs"
            )
            with postgres_cluster() as postgres_url:
                bench = Bench(plan, workdir, receiver, args.profile, postgres_url)
                results = bench.all()
        finally:
            receiver.stop()
        (workdir / "results.json").write_text(json.dumps(results, indent=1))
        figs = figures(results)
        summary(results, figs)
        problems = check_delivery(bench.runs)
        log(
            "  delivery checks: "
            + (
                "; ".join(problems)
                if problems
                else "no loss, no duplicates, nothing stuck, no warnings in the logs"
            )
        )
    log(f"{verdict(figs)} [{time.perf_counter() - started:.0f} s]")
    print(json.dumps(figs), flush=True)
    if problems:
        # Speed is only reported, but a lost, doubled or stuck delivery is a bug.
        sys.exit(1)


if __name__ == "__main__":
    main()
