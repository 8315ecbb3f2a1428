"""Delivery under failure and scale-out, with real processes and real sockets.

The outbox promises that once an event is committed it is delivered, even if the process dies
the next instant; leases promise that a delivery is never sent twice *at the same time*, even
with several workers on one PostgreSQL queue; LISTEN/NOTIFY promises that a worker wakes when
work is committed rather than at its next poll. Unit tests cannot show any of this: it takes a
SIGKILL in the middle of a burst, two worker processes racing for rows, and a worker whose
poll interval is far longer than the delivery it is asked to make.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import database_url_for
from tests.support.databases import new_postgres_url
from tests.support.server import ADMIN_PASSWORD, ADMIN_USERNAME, ServerProcess, store_env
from tests.support.slow_receiver import Arrival, SlowReceiver

#: Short timings so a crashed dispatcher's leases expire, and retries come, within seconds.
CRASH_TIMINGS = {
    "TABHOOKS_DELIVERY_TIMEOUT_S": "2",
    "TABHOOKS_DELIVERY_CONNECT_TIMEOUT_S": "2",
    "TABHOOKS_DELIVERY_LEASE_S": "7",
    "TABHOOKS_DELIVERY_RETRY_SCHEDULE": "0.5s,0.5s,1s,1s,2s",
    "TABHOOKS_DELIVERY_OVERLOAD_FLOOR_S": "0",
    "TABHOOKS_DELIVERY_POLL_INTERVAL_S": "0.2",
    # With the receiver's slow answers before the kill, caps delivery at 16/s: far below how
    # fast events are fired, so the kill lands with work committed but not yet delivered.
    "TABHOOKS_DELIVERY_PER_DESTINATION": "8",
}
#: For exactly-once checks: a generous attempt timeout, so a slow moment on a busy test machine
#: cannot turn into a timeout and a (legitimate, but here unwanted) retry.
WORKER_TIMINGS = {
    "TABHOOKS_DELIVERY_TIMEOUT_S": "10",
    "TABHOOKS_DELIVERY_LEASE_S": "15",
    "TABHOOKS_DELIVERY_RETRY_SCHEDULE": "0.5s,0.5s,1s",
    "TABHOOKS_DELIVERY_OVERLOAD_FLOOR_S": "0",
    "TABHOOKS_DELIVERY_POLL_INTERVAL_S": "0.2",
}
_READY = re.compile(r"tabhooks worker (\S+) delivering")
WORKER_START_TIMEOUT_S = 60.0


# ----------------------------------------------------------------------------- helpers


class Admin:
    """The bootstrap admin of one running server, with the calls these tests need."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        response = httpx.post(
            f"{server.api()}/auth/signin",
            json={
                "credentials": {
                    "name": ADMIN_USERNAME,
                    "password": ADMIN_PASSWORD,
                    "site": {"contentUrl": ""},
                }
            },
            headers={"Accept": "application/json"},
        )
        response.raise_for_status()
        credentials = response.json()["credentials"]
        self.site_id: str = credentials["site"]["id"]
        self.headers = {"X-Tableau-Auth": credentials["token"], "Accept": "application/json"}
        self.ops = f"{server.base_url}/tabhooks/v1/sites/{self.site_id}"

    def create_webhook(self, name: str, url: str, event: str = "WorkbookCreated") -> str:
        body = (
            f'<tsRequest><webhook name="{name}" event="{event}"><webhook-destination>'
            f'<webhook-destination-http method="POST" url="{url}"/></webhook-destination>'
            "</webhook></tsRequest>"
        )
        response = httpx.post(
            f"{self.server.api()}/sites/{self.site_id}/webhooks", content=body, headers=self.headers
        )
        assert response.status_code == 201, response.text
        return str(response.json()["webhook"]["id"])

    def fire(self, name: str, event: str = "WorkbookCreated") -> dict[str, Any]:
        response = httpx.post(
            f"{self.ops}/events", json={"event": event, "resource_name": name}, headers=self.headers
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    def all_deliveries(self) -> list[dict[str, Any]]:
        """Every delivery of the site, newest first, following the log's pages."""
        found: list[dict[str, Any]] = []
        params: dict[str, str] = {"limit": "500"}
        while True:
            response = httpx.get(
                f"{self.ops}/deliveries", params=params, headers=self.headers, timeout=30
            )
            assert response.status_code == 200, response.text
            page = response.json()
            found.extend(page["deliveries"])
            if not page["next_before"]:
                return found
            params["before"] = page["next_before"]

    def settled(self, at_least: int, timeout_s: float) -> list[dict[str, Any]]:
        """Wait until the log holds ``at_least`` deliveries and none is pending or in flight."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = self.all_deliveries()
            if len(found) >= at_least and all(
                d["status"] in ("succeeded", "failed") for d in found
            ):
                return found
            if time.monotonic() > deadline:
                statuses = Counter(d["status"] for d in found)
                raise AssertionError(f"deliveries did not settle: {len(found)} {dict(statuses)}")
            time.sleep(0.2)


@dataclass
class Burst:
    """Fires up to ``total`` events from ``threads`` threads until done or told the server died.

    Only a 201 counts as committed: the on-demand endpoint answers after its transaction has
    committed. A request that fails once ``killed`` is set may or may not have committed, so it
    is counted apart and nothing is expected of it; any failure before that is a real error.
    """

    admin: Admin
    total: int
    threads: int = 6
    killed: threading.Event = field(default_factory=threading.Event)
    committed: dict[str, int] = field(default_factory=dict)
    deliveries_per_event: Counter[int] = field(default_factory=Counter)
    lost_to_kill: int = 0
    unexpected: list[str] = field(default_factory=list)
    _numbers: Iterator[int] = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Burst:
        for n in range(self.threads):
            thread = threading.Thread(target=self._run, name=f"fire-{n}", daemon=True)
            thread.start()
            self._workers.append(thread)
        return self

    def join(self, timeout_s: float = 30.0) -> Burst:
        deadline = time.monotonic() + timeout_s
        for thread in self._workers:
            thread.join(max(0.0, deadline - time.monotonic()))
        assert not any(t.is_alive() for t in self._workers), "fire threads did not finish"
        return self

    def committed_count(self) -> int:
        with self._lock:
            return len(self.committed)

    def _run(self) -> None:
        url = f"{self.admin.ops}/events"
        with httpx.Client(headers=self.admin.headers, timeout=15) as client:
            while not self.killed.is_set():
                with self._lock:
                    number = next(self._numbers)
                if number >= self.total:
                    return
                body = {"event": "WorkbookCreated", "resource_name": f"burst-{number}"}
                try:
                    response = client.post(url, json=body)
                except httpx.TransportError as exc:
                    self._failed(f"#{number}: {exc!r}")
                    continue
                if response.status_code != 201:
                    self._failed(f"#{number}: HTTP {response.status_code} {response.text[:200]}")
                    continue
                fired = response.json()
                with self._lock:
                    self.committed[fired["resource_luid"]] = number
                    self.deliveries_per_event[fired["deliveries"]] += 1

    def _failed(self, what: str) -> None:
        with self._lock:
            if self.killed.is_set():
                self.lost_to_kill += 1
            else:
                self.unexpected.append(what)


@dataclass
class WorkerProcess:
    """A real ``python -m tabhooks worker``; ``output`` keeps what it printed."""

    database_url: str
    workdir: Path
    extra_env: Mapping[str, str] = field(default_factory=dict)
    output: list[str] = field(default_factory=list)
    worker_id: str = ""
    process: subprocess.Popen[str] | None = None
    _ready: threading.Event = field(default_factory=threading.Event)

    def start(self) -> WorkerProcess:
        """Launch without waiting, so several workers can start (and race) at once."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("TABHOOKS_")}
        env.update(
            TABHOOKS_DATABASE_URL=self.database_url, TABHOOKS_DEV="true", PYTHONUNBUFFERED="1"
        )
        env.update(store_env(self.database_url))
        env.update(self.extra_env)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tabhooks", "worker"],
            cwd=self.workdir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._pump, daemon=True).start()
        return self

    def _pump(self) -> None:
        assert self.process and self.process.stdout
        for line in self.process.stdout:
            self.output.append(line)
            match = _READY.search(line)
            if match and not self._ready.is_set():
                self.worker_id = match.group(1)
                self._ready.set()
        self._ready.set()

    def wait_ready(self) -> WorkerProcess:
        if not self._ready.wait(WORKER_START_TIMEOUT_S) or not self.worker_id:
            raise RuntimeError("tabhooks worker did not start:\n" + "".join(self.output))
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


def _worker_env(**overrides: str) -> dict[str, str]:
    return {**WORKER_TIMINGS, **overrides}


def _local_tcp_ports(pid: int) -> set[int]:
    """Local ports of the TCP sockets ``pid`` holds open (Linux /proc; empty elsewhere).

    Lets the test tell which worker sent a request — the receiver sees the sender's port —
    without any hook in the product.
    """
    try:
        inodes = set()
        for fd in os.listdir(f"/proc/{pid}/fd"):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
        ports = set()
        for table in ("tcp", "tcp6"):
            with open(f"/proc/{pid}/net/{table}") as lines:
                next(lines)
                for line in lines:
                    cols = line.split()
                    if cols[9] in inodes:
                        ports.add(int(cols[1].rsplit(":", 1)[1], 16))
        return ports
    except OSError:
        return set()


def _duplicates(arrivals: list[Arrival]) -> dict[str, list[str]]:
    """resource_luid -> the webhook-ids of its arrivals, for those that arrived more than once."""
    by_luid: dict[str, list[str]] = defaultdict(list)
    for arrival in arrivals:
        by_luid[arrival.resource_luid].append(arrival.webhook_id)
    return {luid: ids for luid, ids in by_luid.items() if len(ids) > 1}


# ----------------------------------------------------------------------------- the tests


def test_sigkill_mid_burst_loses_no_committed_event(
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    record_property: Any,
) -> None:
    """SIGKILL with deliveries in flight and events still being fired; restart; nothing lost.

    Whatever was committed before the kill (a 201 came back) reaches the receiver after the
    restart — in-flight attempts are taken over when their lease expires, unclaimed rows are
    simply still pending. An attempt cut off by the kill may arrive twice; when it does, both
    copies carry the same ``webhook-id``, so the receiver can deduplicate.
    """
    database_url = database_url_for(backend, request, tmp_path)
    total, kill_after, backlog, fired_before_kill = 240, 25, 25, 150
    with ExitStack() as cleanup:
        receiver = SlowReceiver(delay_s=0.5).start()
        cleanup.callback(receiver.stop)
        first = ServerProcess(database_url, tmp_path, extra_env=CRASH_TIMINGS)
        cleanup.callback(first.kill)
        first.start()
        webhook_id = Admin(first).create_webhook("crash", receiver.url())
        burst = Burst(Admin(first), total=total).start()
        cleanup.callback(burst.killed.set)

        def ripe(arrivals: list[Arrival]) -> bool:
            delivered = len({a.resource_luid for a in arrivals})
            fired = burst.committed_count()
            return (
                delivered >= kill_after
                and fired >= fired_before_kill
                and fired >= delivered + backlog
            )

        receiver.wait_until(
            ripe,
            timeout_s=15,
            describe=lambda a: f"{len(a)} arrived, {burst.committed_count()} committed",
        )
        burst.killed.set()
        first.kill()
        delivered_at_kill = len({a.resource_luid for a in receiver.arrivals()})
        receiver.delay_s = 0.05  # the backlog may now drain quickly
        burst.join()
        assert not burst.unexpected, burst.unexpected[:5]
        committed = set(burst.committed)
        assert burst.deliveries_per_event == Counter({1: len(committed)})
        assert delivered_at_kill < len(committed), "the kill came after everything was delivered"

        second = ServerProcess(database_url, tmp_path, extra_env=CRASH_TIMINGS)
        cleanup.callback(second.stop)
        second.start()
        arrivals = receiver.wait_until(
            lambda a: committed <= {x.resource_luid for x in a},
            timeout_s=25,
            describe=lambda a: (
                f"{len(committed - {x.resource_luid for x in a})} of {len(committed)} "
                "committed events never arrived"
            ),
        )
        log = Admin(second).settled(at_least=len(committed), timeout_s=10)
        arrivals = receiver.arrivals()

    by_luid = {d["resource_luid"]: d for d in log}
    assert committed <= set(by_luid)
    assert all(d["webhook_id"] == webhook_id for d in log)
    not_succeeded = [d for d in log if d["status"] != "succeeded"]
    assert not not_succeeded, not_succeeded[:3]
    # Every copy of an event carries its delivery's id; no id is reused for another event.
    ids_by_luid: dict[str, set[str]] = defaultdict(set)
    luids_by_id: dict[str, set[str]] = defaultdict(set)
    for arrival in arrivals:
        ids_by_luid[arrival.resource_luid].add(arrival.webhook_id)
        luids_by_id[arrival.webhook_id].add(arrival.resource_luid)
    assert {luid: ids for luid, ids in ids_by_luid.items() if len(ids) != 1} == {}
    assert {i: luids for i, luids in luids_by_id.items() if len(luids) != 1} == {}
    assert all(ids_by_luid[luid] == {by_luid[luid]["id"]} for luid in committed)
    duplicated = _duplicates([a for a in arrivals if a.resource_luid in committed])
    summary = {
        "backend": backend,
        "committed": len(committed),
        "lost_to_kill": burst.lost_to_kill,
        "delivered_at_kill": delivered_at_kill,
        "arrivals": len(arrivals),
        "committed_delivered_twice_or_more": len(duplicated),
        "extra_copies": sum(len(ids) - 1 for ids in duplicated.values()),
        "uncounted_but_delivered": len({a.resource_luid for a in arrivals} - committed),
    }
    record_property("crash_summary", summary)
    print(f"\ncrash summary: {summary}")


@pytest.mark.postgres
def test_two_workers_on_postgres_never_send_the_same_delivery_at_once(
    postgres_admin_url: str, tmp_path: Path, record_property: Any
) -> None:
    """Two worker processes share one queue: each delivery is sent once, never concurrently.

    ``FOR UPDATE SKIP LOCKED`` claims and leases are what keep two dispatchers off the same row;
    the receiver checks the outcome from outside — no ``webhook-id`` arrives while a request
    with the same id is still being answered, and since every answer is a quick 200, no
    delivery is sent a second time at all.
    """
    database_url = new_postgres_url(postgres_admin_url)
    events, paths = 300, ("/a", "/b", "/c")
    with ExitStack() as cleanup:
        receiver = SlowReceiver(delay_s=0.03).start()
        cleanup.callback(receiver.stop)
        # serve migrates before anything else runs; it delivers nothing itself.
        server = ServerProcess(
            database_url, tmp_path, extra_env=WORKER_TIMINGS, args=("--dev", "--no-dispatcher")
        )
        cleanup.callback(server.stop)
        server.start()
        workers = [WorkerProcess(database_url, tmp_path, _worker_env()) for _ in range(2)]
        for worker in workers:
            cleanup.callback(worker.stop)
            worker.start()
        for worker in workers:
            worker.wait_ready()
        assert workers[0].worker_id != workers[1].worker_id

        admin = Admin(server)
        for path in paths:
            admin.create_webhook(f"scale{path.replace('/', '-')}", receiver.url(path))
        burst = Burst(admin, total=events).start().join()
        assert not burst.unexpected, burst.unexpected[:5]
        assert burst.deliveries_per_event == Counter({len(paths): events})
        expected = {(luid, path) for luid in burst.committed for path in paths}

        receiver.wait_until(
            lambda a: expected <= {(x.resource_luid, x.path) for x in a},
            timeout_s=25,
            describe=lambda a: f"{len(expected - {(x.resource_luid, x.path) for x in a})} missing",
        )
        log = admin.settled(at_least=len(expected), timeout_s=10)
        arrivals = receiver.arrivals()
        shares = {w.worker_id: _local_tcp_ports(w.process.pid) for w in workers if w.process}

    assert receiver.overlaps == [], f"sent twice at once: {sorted(set(receiver.overlaps))[:5]}"
    copies = Counter(a.webhook_id for a in arrivals)
    assert {i: n for i, n in copies.items() if n != 1} == {}
    assert len(arrivals) == len(expected)
    assert {(a.resource_luid, a.path) for a in arrivals} == expected
    assert {d["id"] for d in log} == set(copies)
    odd = [d for d in log if d["status"] != "succeeded" or d["attempts"] != 1]
    assert not odd, odd[:3]
    # Informative only: how the work was shared, told apart by the senders' local ports.
    per_worker = {
        worker_id: sum(a.peer_port in ports for a in arrivals)
        for worker_id, ports in shares.items()
    }
    summary = {
        "deliveries": len(arrivals),
        "max_in_flight_at_receiver": receiver.max_in_flight,
        "per_worker_on_still_open_connections": per_worker,
    }
    record_property("scale_out_summary", summary)
    print(f"\nscale-out summary: {summary}")


@pytest.mark.postgres
def test_worker_wakes_on_notify(postgres_admin_url: str, tmp_path: Path) -> None:
    """A worker polling only every 30 s still delivers within seconds: NOTIFY woke it.

    ``serve --no-dispatcher`` commits the event in another process; the only way the worker
    can learn of it before its next poll is the ``NOTIFY`` sent with the commit. Each event is
    allowed 10 s, which a 30 s poll could not meet (the first poll is 30 s after start-up).
    """
    database_url = new_postgres_url(postgres_admin_url)
    slow_poll = _worker_env(TABHOOKS_DELIVERY_POLL_INTERVAL_S="30")
    with ExitStack() as cleanup:
        receiver = SlowReceiver(delay_s=0.0).start()
        cleanup.callback(receiver.stop)
        server = ServerProcess(
            database_url, tmp_path, extra_env=slow_poll, args=("--dev", "--no-dispatcher")
        )
        cleanup.callback(server.stop)
        server.start()
        worker = WorkerProcess(database_url, tmp_path, slow_poll)
        cleanup.callback(worker.stop)
        worker.start().wait_ready()
        admin = Admin(server)
        admin.create_webhook("wake", receiver.url())
        for n in range(3):
            luid = admin.fire(f"wake-{n}")["resource_luid"]
            receiver.wait_until(
                lambda a, luid=luid: luid in {x.resource_luid for x in a},
                timeout_s=10,
                describe=lambda a, n=n: f"event {n} not delivered within 10 s",
            )
        assert receiver.count() == 3
