"""Schedules run on their own (issue 17), against real servers, workers and receivers.

* A schedule that comes due refreshes its data source with no further call: the receiver gets
  ``DatasourceRefreshStarted`` then ``DatasourceRefreshSucceeded``, and ``nextRunAt`` moves on.
  A suspended schedule due at the same moment runs nothing.
* A scheduled refresh whose connection is broken fires ``DatasourceRefreshFailed``, and the
  task counts the failure (``consecutiveFailedCount``).
* Runs missed while the server was down are one run at start-up, not one per missed slot.
* On PostgreSQL with two workers, due runs fire once each; and killing the worker that runs a
  scheduled refresh loses nothing: the other takes it over once its lease runs out, and it
  completes (and fires its events) once.

Schedules are made due a few seconds ahead (a Daily schedule whose start is now plus a few
seconds, in UTC), and the scheduler looks every half second (``TABHOOKS_SCHEDULE_POLL_S``).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
import tableauserverclient as TSC
from sqlalchemy.engine import make_url

from tests.conftest import database_url_for
from tests.support.databases import new_postgres_url, new_sqlite_url
from tests.support.receiver import Receiver
from tests.support.server import ADMIN_PASSWORD, ADMIN_USERNAME, ServerProcess, store_env
from tests.support.tableau_samples import connection_xml, datasource_xml

POLL_S = 0.5
LEASE_S = 2
SCHEDULE_ENV = {
    "TABHOOKS_SCHEDULE_POLL_S": str(POLL_S),
    "TABHOOKS_JOB_LEASE_S": str(LEASE_S),
    "TABHOOKS_JOB_TIMEOUT_S": "60",
}
REFRESH_EVENTS = (
    "DatasourceRefreshStarted",
    "DatasourceRefreshSucceeded",
    "DatasourceRefreshFailed",
)
#: How far ahead a schedule is made due: long enough to add its task before it runs.
LEAD_S = 6
WAIT_S = 60.0


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def server(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("schedules")
    url = database_url_for(backend, request, workdir)
    running = ServerProcess(url, workdir, SCHEDULE_ENV).start()
    yield running
    running.stop()


def _signed_in(base_url: str, receiver: Receiver) -> TSC.Server:
    """The bootstrap admin, with a webhook per refresh event to ``receiver``."""
    tsc = TSC.Server(base_url, use_server_version=True)
    tsc.auth.sign_in(TSC.TableauAuth(ADMIN_USERNAME, ADMIN_PASSWORD, site_id=""))
    for event in REFRESH_EVENTS:
        body = (
            f'<tsRequest><webhook name="sched-{event}-{uuid.uuid4().hex[:6]}" event="{event}">'
            f'<webhook-destination><webhook-destination-http method="POST" url="{receiver.url}"/>'
            "</webhook-destination></webhook></tsRequest>"
        )
        httpx.post(
            f"{tsc.baseurl}/sites/{tsc.site_id}/webhooks",
            content=body,
            headers={"X-Tableau-Auth": tsc.auth_token},
        ).raise_for_status()
    return tsc


@pytest.fixture(scope="module")
def tsc(server: ServerProcess, receiver: Receiver) -> Iterator[TSC.Server]:
    signed_in = _signed_in(server.base_url, receiver)
    yield signed_in
    signed_in.auth.sign_out()


def _project(tsc: TSC.Server) -> str:
    options = TSC.RequestOptions()
    options.filter.add(TSC.Filter("name", "eq", "Default"))
    return str(tsc.projects.get(options)[0][0].id)


def _datasource(
    tsc: TSC.Server,
    tmp_path: Path,
    connection: str,
    credentials: tuple[str, str] | None = None,
) -> TSC.DatasourceItem:
    name = f"ds-{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{name}.tds"
    path.write_bytes(datasource_xml(connection, name))
    embedded = TSC.ConnectionCredentials(*credentials, embed=True) if credentials else None
    item = TSC.DatasourceItem(_project(tsc), name=name)
    return tsc.datasources.publish(
        item, str(path), TSC.Server.PublishMode.CreateNew, connection_credentials=embedded
    )


def _csv(tmp_path: Path) -> Path:
    data = tmp_path / f"{uuid.uuid4().hex}.csv"
    data.write_text("id,amount\n1,2\n")
    return data


def _due_soon(tsc: TSC.Server, *, suspended: bool = False) -> tuple[str, datetime]:
    """A Daily Extract schedule whose run is ``LEAD_S`` seconds from now; (id, nextRunAt)."""
    start = (datetime.now(UTC) + timedelta(seconds=LEAD_S)).replace(microsecond=0)
    body = (
        f'<tsRequest><schedule name="due-{uuid.uuid4().hex[:8]}" priority="50" type="Extract" '
        f'frequency="Daily" executionOrder="Parallel" state="{"Suspended" if suspended else "Active"}">'
        f'<frequencyDetails start="{start:%H:%M:%S}"/></schedule></tsRequest>'
    )
    answer = httpx.post(
        f"{tsc.baseurl}/schedules", content=body, headers={"X-Tableau-Auth": tsc.auth_token}
    )
    answer.raise_for_status()
    created = tsc.schedules.get_by_id(
        re.search(r'<schedule id="([^"]+)"', answer.text).group(1)  # type: ignore[union-attr]
    )
    if not suspended:
        assert created.next_run_at == start, "the machine took longer than LEAD_S to create it"
    return str(created.id), start


def _events(receiver: Receiver, luid: str) -> list[str]:
    payloads = [json.loads(r.body) for r in list(receiver.requests)]
    return [p["event_type"] for p in payloads if p.get("resource_luid") == luid]


def _wait_events(receiver: Receiver, luid: str, count: int) -> list[str]:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if len(found := _events(receiver, luid)) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"expected {count} events for {luid}, got {_events(receiver, luid)}")


def _jobs_of(tsc: TSC.Server, name: str) -> list[TSC.BackgroundJobItem]:
    jobs, _ = tsc.jobs.get(TSC.RequestOptions(pagesize=1000))
    return [j for j in jobs if j.title == name]


def test_a_due_schedule_refreshes_on_its_own_and_a_suspended_one_does_not(
    tsc: TSC.Server, receiver: Receiver, tmp_path: Path
) -> None:
    scheduled = _datasource(tsc, tmp_path, connection_xml("textscan", filename=str(_csv(tmp_path))))
    idle = _datasource(tsc, tmp_path, connection_xml("textscan", filename=str(_csv(tmp_path))))
    active_id, due = _due_soon(tsc)
    suspended_id, _ = _due_soon(tsc, suspended=True)
    tsc.schedules.add_to_schedule(active_id, datasource=scheduled)
    tsc.schedules.add_to_schedule(suspended_id, datasource=idle)

    assert _wait_events(receiver, scheduled.id, 2) == [
        "DatasourceRefreshStarted",
        "DatasourceRefreshSucceeded",
    ]
    assert datetime.now(UTC) >= due  # not before its time
    moved = tsc.schedules.get_by_id(active_id)
    assert moved.next_run_at == due + timedelta(days=1)
    (job,) = _jobs_of(tsc, scheduled.name)
    assert job.status == "Success" and job.type == "refresh_extracts"
    (task,) = [t for t in tsc.tasks.get()[0] if t.target.id == scheduled.id]
    assert task.last_run_at is not None and task.consecutive_failed_count == 0

    time.sleep(4 * POLL_S)  # the scheduler looked several times since the suspended one came due
    assert _events(receiver, idle.id) == [] and _jobs_of(tsc, idle.name) == []
    assert _events(receiver, scheduled.id) == [
        "DatasourceRefreshStarted",
        "DatasourceRefreshSucceeded",
    ]


def test_a_scheduled_refresh_of_a_broken_connection_fails(
    tsc: TSC.Server, receiver: Receiver, tmp_path: Path
) -> None:
    data = _csv(tmp_path)
    datasource = _datasource(tsc, tmp_path, connection_xml("textscan", filename=str(data)))
    schedule_id, _ = _due_soon(tsc)
    tsc.schedules.add_to_schedule(schedule_id, datasource=datasource)
    data.unlink()  # the file the data source reads is gone

    assert _wait_events(receiver, datasource.id, 2) == [
        "DatasourceRefreshStarted",
        "DatasourceRefreshFailed",
    ]
    (job,) = _jobs_of(tsc, datasource.name)
    assert job.status == "Failed"
    (task,) = [t for t in tsc.tasks.get()[0] if t.target.id == datasource.id]
    assert task.consecutive_failed_count == 1


def test_runs_missed_while_down_are_one_run_at_start_up(receiver: Receiver, tmp_path: Path) -> None:
    """The store is left as three days of downtime leave it: the schedule's next run long past.
    At start-up it runs once, and its next run is its next slot after now."""
    database_url = new_sqlite_url(tmp_path)
    first = ServerProcess(database_url, tmp_path, SCHEDULE_ENV).start()
    try:
        tsc = _signed_in(first.base_url, receiver)
        datasource = _datasource(
            tsc, tmp_path, connection_xml("textscan", filename=str(_csv(tmp_path)))
        )
        start = (datetime.now(UTC) + timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
        created = tsc.schedules.create(
            TSC.ScheduleItem(
                f"nightly-{uuid.uuid4().hex[:6]}", 50, "Extract", "Parallel",
                TSC.DailyInterval(start_time=start.time()),
            )
        )  # fmt: skip
        tsc.schedules.add_to_schedule(created.id, datasource=datasource)
        tsc.auth.sign_out()
    finally:
        first.stop()

    path = make_url(database_url).database
    assert path
    with sqlite3.connect(path) as db:
        db.execute(
            "UPDATE schedules SET next_run_at = ? WHERE id = ?",
            (
                (start - timedelta(days=3)).replace(tzinfo=None).isoformat(" ", "microseconds"),
                created.id,
            ),
        )

    second = ServerProcess(database_url, tmp_path, SCHEDULE_ENV).start()
    try:
        events = _wait_events(receiver, datasource.id, 2)
        time.sleep(4 * POLL_S)
        assert (
            _events(receiver, datasource.id)
            == events
            == [
                "DatasourceRefreshStarted",
                "DatasourceRefreshSucceeded",
            ]
        )
        tsc = TSC.Server(second.base_url, use_server_version=True)
        tsc.auth.sign_in(TSC.TableauAuth(ADMIN_USERNAME, ADMIN_PASSWORD, site_id=""))
        assert len(_jobs_of(tsc, datasource.name)) == 1
        assert tsc.schedules.get_by_id(created.id).next_run_at == start
        tsc.auth.sign_out()
    finally:
        second.stop()


# ----------------------------------------------- PostgreSQL: two workers share the schedules

_READY = re.compile(r"tabhooks worker (\S+) delivering")


@dataclass
class Worker:
    """A real ``python -m tabhooks worker`` (dispatcher, job runner and scheduler)."""

    database_url: str
    workdir: Path
    output: list[str] = field(default_factory=list)
    process: subprocess.Popen[str] | None = None
    ready: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Worker:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TABHOOKS_")}
        env.update(TABHOOKS_DATABASE_URL=self.database_url, TABHOOKS_DEV="true")
        env.update(PYTHONUNBUFFERED="1", **store_env(self.database_url), **SCHEDULE_ENV)
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
        if not self.ready.wait(WAIT_S) or self.process.poll() is not None:
            raise RuntimeError("tabhooks worker did not start:\n" + "".join(self.output))
        return self

    def _pump(self) -> None:
        assert self.process and self.process.stdout
        for line in self.process.stdout:
            self.output.append(line)
            if _READY.search(line):
                self.ready.set()
        self.ready.set()

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class FirstConnectionHangs:
    """A TCP relay on 127.0.0.1 to a real database: its first client is accepted and never
    answered (a refresh stuck connecting), every later one is piped through to the database."""

    target: tuple[str, int]
    accepted: int = 0
    _listener: socket.socket | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _sockets: list[socket.socket] = field(default_factory=list)

    def start(self) -> FirstConnectionHangs:
        self._listener = socket.create_server(("127.0.0.1", 0))
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
            self.accepted += 1
            self._sockets.append(client)
            if self.accepted == 1:
                continue  # held open, never answered
            upstream = socket.create_connection(self.target)
            self._sockets.append(upstream)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        self._stop.set()
        if self._listener is not None:
            self._listener.close()
        for sock in self._sockets:
            sock.close()


@pytest.fixture()
def warehouse(postgres_admin_url: str) -> dict[str, str]:
    """A PostgreSQL database and a password-protected role for a data source to point at."""
    suffix = uuid.uuid4().hex[:8]
    role, password, dbname = f"sched_{suffix}", "right-password", f"sched_{suffix}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        conn.execute(f"CREATE DATABASE {dbname} OWNER {role}")
    url = make_url(postgres_admin_url)
    return {
        "host": url.host or "127.0.0.1",
        "port": str(url.port or 5432),
        "dbname": dbname,
        "user": role,
        "password": password,
    }


def test_two_workers_on_postgres_fire_each_due_run_once(
    postgres_admin_url: str, receiver: Receiver, tmp_path: Path
) -> None:
    """Only the workers schedule (the server runs no job runtime); three schedules come due at
    the same moment while both look every half second, and each runs once."""
    database_url = new_postgres_url(postgres_admin_url)
    with ExitStack() as cleanup:
        server = ServerProcess(database_url, tmp_path, SCHEDULE_ENV, ("--dev", "--no-dispatcher"))
        cleanup.callback(server.stop)
        server.start()
        for _ in range(2):
            worker = Worker(database_url, tmp_path)
            cleanup.callback(worker.stop)
            worker.start()
        tsc = _signed_in(server.base_url, receiver)
        cleanup.callback(tsc.auth.sign_out)
        sources = [
            _datasource(tsc, tmp_path, connection_xml("textscan", filename=str(_csv(tmp_path))))
            for _ in range(3)
        ]
        start = (datetime.now(UTC) + timedelta(seconds=LEAD_S + 2)).replace(microsecond=0)
        for datasource in sources:
            schedule = tsc.schedules.create(
                TSC.ScheduleItem(
                    f"same-time-{uuid.uuid4().hex[:6]}", 50, "Extract", "Parallel",
                    TSC.DailyInterval(start_time=start.time()),
                )
            )  # fmt: skip
            assert schedule.next_run_at == start
            tsc.schedules.add_to_schedule(schedule.id, datasource=datasource)

        for datasource in sources:
            _wait_events(receiver, datasource.id, 2)
        time.sleep(4 * POLL_S)
        for datasource in sources:
            assert _events(receiver, datasource.id) == [
                "DatasourceRefreshStarted",
                "DatasourceRefreshSucceeded",
            ]
            assert len(_jobs_of(tsc, datasource.name)) == 1


def test_killing_the_worker_running_a_scheduled_refresh_loses_nothing(
    postgres_admin_url: str, receiver: Receiver, warehouse: dict[str, str], tmp_path: Path
) -> None:
    """Worker A alone runs the schedule; its refresh hangs connecting; worker B starts and A
    is killed (SIGKILL). B takes the job over when A's lease runs out, connects, and the run
    completes once: one job, one Started, one Succeeded."""
    database_url = new_postgres_url(postgres_admin_url)
    relay = FirstConnectionHangs((warehouse["host"], int(warehouse["port"]))).start()
    with ExitStack() as cleanup:
        cleanup.callback(relay.stop)
        server = ServerProcess(database_url, tmp_path, SCHEDULE_ENV, ("--dev", "--no-dispatcher"))
        cleanup.callback(server.stop)
        server.start()
        worker_a = Worker(database_url, tmp_path)
        cleanup.callback(worker_a.stop)
        worker_a.start()
        tsc = _signed_in(server.base_url, receiver)
        cleanup.callback(tsc.auth.sign_out)
        connection = connection_xml(
            "postgres",
            server="127.0.0.1",
            port=str(relay.port),
            dbname=warehouse["dbname"],
            username=warehouse["user"],
        )
        datasource = _datasource(
            tsc, tmp_path, connection, (warehouse["user"], warehouse["password"])
        )
        schedule_id, _ = _due_soon(tsc)
        tsc.schedules.add_to_schedule(schedule_id, datasource=datasource)

        deadline = time.monotonic() + WAIT_S
        while relay.accepted < 1:  # worker A's refresh is connecting (and hangs)
            assert time.monotonic() < deadline, "the scheduled refresh never connected"
            time.sleep(0.05)
        worker_b = Worker(database_url, tmp_path)
        cleanup.callback(worker_b.stop)
        worker_b.start()
        worker_a.kill()

        assert _wait_events(receiver, datasource.id, 2) == [
            "DatasourceRefreshStarted",
            "DatasourceRefreshSucceeded",
        ]
        time.sleep(2 * LEASE_S)  # a second completion, had there been one, would show by now
        assert _events(receiver, datasource.id) == [
            "DatasourceRefreshStarted",
            "DatasourceRefreshSucceeded",
        ]
        (job,) = _jobs_of(tsc, datasource.name)
        assert job.status == "Success"
        assert relay.accepted == 2  # A's hung attempt, then B's
