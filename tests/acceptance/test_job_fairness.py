"""Refresh jobs are bounded and fair (issue 14, "Refresh jobs"), against real servers, real
workers and a real slow database: a TCP listener on 127.0.0.1 that accepts and never answers.

* One site's slow refreshes cannot hold up another site's: a site runs at most
  ``TABHOOKS_JOB_CONCURRENCY_PER_SITE`` jobs at once, and sites take turns for the free slots.
  (Before: four slow jobs of one site took all four slots, and the other site's trivial
  refresh waited until they timed out.)
* A job longer than its lease runs once: the lease is renewed while it runs. (Before: it was
  never renewed, so the job was taken over and run again alongside itself.) Counted at the
  slow listener (connections) and at a webhook receiver (completion events), on SQLite, on
  PostgreSQL, and on PostgreSQL with two worker processes sharing the queue.
* ``TABHOOKS_JOB_TIMEOUT_S`` fails a job with a note naming it, firing ``*RefreshFailed`` once.
* A cancelled running job stops connecting and is never completed afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import tableauserverclient as TSC

from tests.conftest import database_url_for
from tests.support.databases import new_postgres_url
from tests.support.receiver import Receiver
from tests.support.server import ADMIN_PASSWORD, ADMIN_USERNAME, ServerProcess, store_env
from tests.support.tableau_samples import connection_xml, datasource_xml, workbook_xml

LEASE_S = 2
TIMEOUT_S = 6
PER_SITE = 2
#: A short lease (a slow job lasts three), a time limit shorter than libpq's 10 s connect
#: timeout (so a slow job ends at the limit), four slots per process, two per site.
JOB_ENV = {
    "TABHOOKS_JOB_CONCURRENCY": "4",
    "TABHOOKS_JOB_CONCURRENCY_PER_SITE": str(PER_SITE),
    "TABHOOKS_JOB_LEASE_S": str(LEASE_S),
    "TABHOOKS_JOB_TIMEOUT_S": str(TIMEOUT_S),
}
TIMEOUT_NOTE = f"timed out: the job did not finish within {TIMEOUT_S} s (TABHOOKS_JOB_TIMEOUT_S)"
REFRESH_EVENTS = (
    "DatasourceRefreshStarted",
    "DatasourceRefreshSucceeded",
    "DatasourceRefreshFailed",
    "WorkbookRefreshStarted",
    "WorkbookRefreshSucceeded",
    "WorkbookRefreshFailed",
)
WAIT_S = 60.0


@dataclass
class BlackHole:
    """A database that hangs: accepts TCP connections on 127.0.0.1 and never answers.

    Counts the connections, how many are open (a client that gives up closes its socket),
    and the most open at once.
    """

    accepted: int = 0
    open: int = 0
    most_open: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _clients: list[socket.socket] = field(default_factory=list)
    _listener: socket.socket | None = None

    def start(self) -> BlackHole:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self._listener.settimeout(0.1)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    @property
    def port(self) -> int:
        assert self._listener is not None
        return int(self._listener.getsockname()[1])

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                self.open += 1
                self.most_open = max(self.most_open, self.open)
                self._clients.append(client)
            threading.Thread(target=self._drain, args=(client,), daemon=True).start()

    def _drain(self, client: socket.socket) -> None:
        """Read (the client's TLS or start-up request) and never answer, until it hangs up."""
        try:
            while client.recv(4096):
                pass
        except OSError:
            pass
        with self._lock:
            self.open -= 1

    def wait(self, what: str, check: object, timeout_s: float = WAIT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if callable(check) and check(self):
                    return
            time.sleep(0.05)
        raise AssertionError(f"black hole: {what} never happened ({self})")

    def stop(self) -> None:
        self._stop.set()
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            for client in self._clients:
                client.close()


@pytest.fixture
def hole() -> Iterator[BlackHole]:
    running = BlackHole().start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def server(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("fair-jobs")
    running = ServerProcess(database_url_for(backend, request, workdir), workdir, JOB_ENV).start()
    yield running
    running.stop()


def _signed_in(base_url: str, site: str, receiver: Receiver) -> TSC.Server:
    """The bootstrap admin on ``site``, with a webhook per refresh event to ``receiver``."""
    tsc = TSC.Server(base_url, use_server_version=True)
    tsc.auth.sign_in(TSC.TableauAuth(ADMIN_USERNAME, ADMIN_PASSWORD, site_id=site))
    for event in REFRESH_EVENTS:
        body = (
            f'<tsRequest><webhook name="fair-{event}" event="{event}"><webhook-destination>'
            f'<webhook-destination-http method="POST" url="{receiver.url}"/>'
            "</webhook-destination></webhook></tsRequest>"
        )
        httpx.post(
            f"{tsc.baseurl}/sites/{tsc.site_id}/webhooks",
            content=body,
            headers={"X-Tableau-Auth": tsc.auth_token},
        ).raise_for_status()
    return tsc


@pytest.fixture(scope="module")
def site_a(server: ServerProcess, receiver: Receiver) -> Iterator[TSC.Server]:
    tsc = _signed_in(server.base_url, "", receiver)
    yield tsc
    tsc.auth.sign_out()


@pytest.fixture(scope="module")
def site_b(server: ServerProcess, site_a: TSC.Server, receiver: Receiver) -> Iterator[TSC.Server]:
    site_a.sites.create(TSC.SiteItem("Fair B", "fair-b"))
    tsc = _signed_in(server.base_url, "fair-b", receiver)
    yield tsc
    tsc.auth.sign_out()


def _project(tsc: TSC.Server) -> str:
    options = TSC.RequestOptions()
    options.filter.add(TSC.Filter("name", "eq", "Default"))
    return str(tsc.projects.get(options)[0][0].id)


def _slow_connection(hole: BlackHole) -> str:
    return connection_xml(
        "postgres", server="127.0.0.1", port=str(hole.port), dbname="x", username="u"
    )


def _datasource(tsc: TSC.Server, tmp_path: Path, connection: str) -> TSC.DatasourceItem:
    name = f"ds-{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{name}.tds"
    path.write_bytes(datasource_xml(connection, name))
    item = TSC.DatasourceItem(_project(tsc), name=name)
    return tsc.datasources.publish(item, str(path), TSC.Server.PublishMode.CreateNew)


def _events(receiver: Receiver, luid: str) -> list[str]:
    """Event types delivered for ``luid``, in arrival order."""
    payloads = [json.loads(r.body) for r in list(receiver.requests)]
    return [p["event_type"] for p in payloads if p.get("resource_luid") == luid]


def _wait_events(receiver: Receiver, luid: str, count: int) -> list[str]:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if len(found := _events(receiver, luid)) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"expected {count} events for {luid}, got {_events(receiver, luid)}")


def _statuses(tsc: TSC.Server, job_ids: list[str]) -> dict[str, str]:
    """Each job's status (Pending, InProgress, Success, Failed, Cancelled)."""
    options = TSC.RequestOptions(pagesize=1000)
    jobs, _ = tsc.jobs.get(options)
    found = {job.id: job.status for job in jobs}
    return {job_id: found[job_id] for job_id in job_ids}


def _wait_finished(tsc: TSC.Server, job_id: str) -> TSC.JobItem:
    """Poll often (TSC's wait_for_job backs off to seconds between looks)."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        job = tsc.jobs.get_by_id(job_id)
        if job.completed_at is not None:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} never finished")


def _notes(job: TSC.JobItem) -> list[str]:
    return list(job.notes)


def test_a_sites_slow_refreshes_do_not_hold_up_another_sites(
    site_a: TSC.Server, site_b: TSC.Server, receiver: Receiver, hole: BlackHole, tmp_path: Path
) -> None:
    slow = [_datasource(site_a, tmp_path, _slow_connection(hole)) for _ in range(5)]
    quick = _datasource(site_b, tmp_path, connection_xml("sqlserver", server="db.example.com"))
    slow_jobs = [site_a.datasources.refresh(ds).id for ds in slow]
    hole.wait("site A's refreshes connecting", lambda h: h.accepted >= 1)
    quick_job = site_b.datasources.refresh(quick).id

    done = _wait_finished(site_b, quick_job)
    behind = _statuses(site_a, slow_jobs)
    assert done.finish_code == 0
    # Site B's refresh finished while every one of site A's was still queued or running ...
    assert set(behind.values()) <= {"Pending", "InProgress"}, behind
    # ... and site A never held more than its share of the slots.
    assert list(behind.values()).count("InProgress") == PER_SITE, behind
    assert hole.most_open <= PER_SITE
    assert _wait_events(receiver, quick.id, 2) == [
        "DatasourceRefreshStarted",
        "DatasourceRefreshSucceeded",
    ]
    # The queued ones first: cancelling a running one frees a place the next would take.
    for job_id in sorted(slow_jobs, key=lambda j: behind[j] == "InProgress"):
        with contextlib.suppress(TSC.ServerResponseError):  # 409: it finished meanwhile
            site_a.jobs.cancel(job_id)
    hole.wait("site A's refreshes hanging up", lambda h: h.open == 0)


def test_a_job_longer_than_its_lease_runs_once(
    site_a: TSC.Server, receiver: Receiver, hole: BlackHole, tmp_path: Path
) -> None:
    datasource = _datasource(site_a, tmp_path, _slow_connection(hole))
    job = _wait_finished(site_a, site_a.datasources.refresh(datasource).id)
    assert job.finish_code == 1 and _notes(job) == [TIMEOUT_NOTE]
    events = _wait_events(receiver, datasource.id, 2)
    hole.wait("the refresh hanging up", lambda h: h.open == 0)
    time.sleep(2 * LEASE_S)  # a second run, had there been one, would show by now
    # The job lasted three leases, yet it connected once and completed once.
    assert hole.accepted == 1
    assert (
        _events(receiver, datasource.id)
        == events
        == [
            "DatasourceRefreshStarted",
            "DatasourceRefreshFailed",
        ]
    )


def test_the_time_limit_fails_the_job_with_a_note_and_one_failure_event(
    site_a: TSC.Server, receiver: Receiver, hole: BlackHole, tmp_path: Path
) -> None:
    path = tmp_path / "Hangs.twb"
    path.write_bytes(workbook_xml(_slow_connection(hole)))
    workbook = site_a.workbooks.publish(
        TSC.WorkbookItem(_project(site_a), name=f"Hangs {uuid.uuid4().hex[:6]}"),
        str(path),
        TSC.Server.PublishMode.CreateNew,
    )
    job = site_a.workbooks.refresh(workbook)
    with pytest.raises(TSC.JobFailedException) as failed:
        site_a.jobs.wait_for_job(job, timeout=WAIT_S)
    assert list(failed.value.notes) == [TIMEOUT_NOTE]
    assert _wait_events(receiver, workbook.id, 2) == [
        "WorkbookRefreshStarted",
        "WorkbookRefreshFailed",
    ]
    hole.wait("the stopped refresh hanging up", lambda h: h.open == 0)
    time.sleep(2 * LEASE_S)
    assert _events(receiver, workbook.id) == ["WorkbookRefreshStarted", "WorkbookRefreshFailed"]


def test_a_cancelled_running_refresh_stops_and_is_never_completed(
    site_a: TSC.Server, receiver: Receiver, hole: BlackHole, tmp_path: Path
) -> None:
    datasource = _datasource(site_a, tmp_path, _slow_connection(hole))
    job_id = site_a.datasources.refresh(datasource).id
    hole.wait("the refresh connecting", lambda h: h.open == 1)
    site_a.jobs.cancel(job_id)
    # The runner learns of it at its next lease renewal and drops the connection.
    hole.wait("the cancelled refresh hanging up", lambda h: h.open == 0)
    time.sleep(TIMEOUT_S + LEASE_S)  # past the time limit: nothing may record the job now
    assert site_a.jobs.get_by_id(job_id).finish_code == 2
    assert _events(receiver, datasource.id) == ["DatasourceRefreshStarted"]
    assert hole.accepted == 1


def test_health_answers_while_connection_checks_hang_and_read(
    server: ServerProcess, site_a: TSC.Server, hole: BlackHole, tmp_path: Path
) -> None:
    """Checks that hang (a database that never answers) and checks that work (a CSV file of
    two million rows, read and counted) run off the event loop: ``/tabhooks/v1/health`` keeps
    answering while they run.

    Only answers to health checks sent and answered while a check held a connection to the
    silent database count: were that check run on the loop, the loop would be stuck in it from
    connect to give-up, and no such answer could exist.
    """
    big = tmp_path / "big.csv"  # below the default roots (the system temporary folder)
    big.write_text("id,amount\n" + "1,2\n" * 2_000_000)
    sources = [_datasource(site_a, tmp_path, _slow_connection(hole)) for _ in range(2)]
    sources += [_datasource(site_a, tmp_path, connection_xml("textscan", filename=str(big)))]
    health = f"{server.base_url}/tabhooks/v1/health"
    during: list[float] = []  # latencies of the answers that count
    with httpx.Client(timeout=30) as client:
        client.get(health)  # connection set up before the clock starts
        job_ids = [site_a.datasources.refresh(ds).id for ds in sources]
        while not all(site_a.jobs.get_by_id(j).completed_at for j in job_ids):
            for _ in range(10):
                hanging, sent = hole.open > 0, time.monotonic()
                assert client.get(health).status_code == 200
                if hanging and hole.open > 0:
                    during.append(time.monotonic() - sent)
    finished = [site_a.jobs.get_by_id(j) for j in job_ids]
    assert [j.finish_code for j in finished] == [1, 1, 0]
    ordered = sorted(during)
    if ordered:
        print(
            f"\nhealth answered {len(ordered)} times while a check hung; median "
            f"{ordered[len(ordered) // 2] * 1000:.1f} ms, slowest {ordered[-1] * 1000:.1f} ms",
            end="",
        )
    assert len(ordered) >= 3


# ----------------------------------------------- PostgreSQL: two workers share the queue

_READY = re.compile(r"tabhooks worker (\S+) delivering")


@dataclass
class Worker:
    """A real ``python -m tabhooks worker`` (dispatcher and job runner)."""

    database_url: str
    workdir: Path
    output: list[str] = field(default_factory=list)
    process: subprocess.Popen[str] | None = None
    ready: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Worker:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TABHOOKS_")}
        env.update(TABHOOKS_DATABASE_URL=self.database_url, TABHOOKS_DEV="true")
        env.update(PYTHONUNBUFFERED="1", **store_env(self.database_url), **JOB_ENV)
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
            if _READY.search(line):
                self.ready.set()
        self.ready.set()

    def wait_ready(self) -> None:
        if not self.ready.wait(WAIT_S) or self.process is None or self.process.poll() is not None:
            raise RuntimeError("tabhooks worker did not start:\n" + "".join(self.output))

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


def test_two_workers_on_postgres_run_each_job_once_within_the_site_cap(
    postgres_admin_url: str, receiver: Receiver, hole: BlackHole, tmp_path: Path
) -> None:
    """Only the workers run jobs (the server runs no dispatcher): each slow refresh connects
    once and completes once although it outlives three leases, and the two processes together
    never run more than the site's cap of them at once."""
    database_url = new_postgres_url(postgres_admin_url)
    with ExitStack() as cleanup:
        server = ServerProcess(database_url, tmp_path, JOB_ENV, ("--dev", "--no-dispatcher"))
        cleanup.callback(server.stop)
        server.start()
        workers = [Worker(database_url, tmp_path) for _ in range(2)]
        for worker in workers:
            cleanup.callback(worker.stop)
            worker.start()
        for worker in workers:
            worker.wait_ready()
        tsc = _signed_in(server.base_url, "", receiver)
        cleanup.callback(tsc.auth.sign_out)

        slow = [_datasource(tsc, tmp_path, _slow_connection(hole)) for _ in range(3)]
        job_ids = [tsc.datasources.refresh(ds).id for ds in slow]
        finished = [_wait_finished(tsc, job_id) for job_id in job_ids]
        assert [(j.finish_code, _notes(j)) for j in finished] == [(1, [TIMEOUT_NOTE])] * 3
        for datasource in slow:
            _wait_events(receiver, datasource.id, 2)
        hole.wait("the refreshes hanging up", lambda h: h.open == 0)
        time.sleep(2 * LEASE_S)
        assert hole.accepted == 3
        assert hole.most_open <= PER_SITE
        for datasource in slow:
            assert _events(receiver, datasource.id) == [
                "DatasourceRefreshStarted",
                "DatasourceRefreshFailed",
            ]
