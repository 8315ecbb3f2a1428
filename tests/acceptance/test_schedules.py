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

import re
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import tableauserverclient as TSC
from sqlalchemy.engine import make_url

from tests.support import jobs as job_support
from tests.support.databases import new_postgres_url, new_sqlite_url
from tests.support.jobs import (
    Worker,
    csv_file,
    events_for,
    publish_datasource,
    receiving,
    serving,
    signed_in,
    textscan,
    wait_events,
)
from tests.support.listeners import CountingListener
from tests.support.receiver import Receiver
from tests.support.server import ServerProcess
from tests.support.tableau_samples import connection_xml

POLL_S = 0.5
LEASE_S = 2
SCHEDULE_ENV = {
    "TABHOOKS_SCHEDULE_POLL_S": str(POLL_S),
    "TABHOOKS_JOB_LEASE_S": str(LEASE_S),
    "TABHOOKS_JOB_TIMEOUT_S": "60",
}
#: How far ahead a schedule is made due: long enough to add its task before it runs.
LEAD_S = 6


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    yield from receiving()


@pytest.fixture(scope="module")
def server(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    yield from serving(backend, request, tmp_path_factory.mktemp("schedules"), SCHEDULE_ENV)


@pytest.fixture(scope="module")
def tsc(server: ServerProcess, receiver: Receiver) -> Iterator[TSC.Server]:
    client = signed_in(server.base_url, receiver=receiver)
    yield client
    client.auth.sign_out()


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


def _jobs_of(tsc: TSC.Server, name: str) -> list[TSC.BackgroundJobItem]:
    jobs, _ = tsc.jobs.get(TSC.RequestOptions(pagesize=1000))
    return [j for j in jobs if j.title == name]


def test_a_due_schedule_refreshes_on_its_own_and_a_suspended_one_does_not(
    tsc: TSC.Server, receiver: Receiver, tmp_path: Path
) -> None:
    scheduled = publish_datasource(tsc, tmp_path, textscan(csv_file(tmp_path)))
    idle = publish_datasource(tsc, tmp_path, textscan(csv_file(tmp_path)))
    active_id, due = _due_soon(tsc)
    suspended_id, _ = _due_soon(tsc, suspended=True)
    tsc.schedules.add_to_schedule(active_id, datasource=scheduled)
    tsc.schedules.add_to_schedule(suspended_id, datasource=idle)

    assert wait_events(receiver, scheduled.id, 2) == [
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
    assert events_for(receiver, idle.id) == [] and _jobs_of(tsc, idle.name) == []
    assert events_for(receiver, scheduled.id) == [
        "DatasourceRefreshStarted",
        "DatasourceRefreshSucceeded",
    ]


def test_a_scheduled_refresh_of_a_broken_connection_fails(
    tsc: TSC.Server, receiver: Receiver, tmp_path: Path
) -> None:
    data = csv_file(tmp_path)
    datasource = publish_datasource(tsc, tmp_path, textscan(data))
    schedule_id, _ = _due_soon(tsc)
    tsc.schedules.add_to_schedule(schedule_id, datasource=datasource)
    data.unlink()  # the file the data source reads is gone

    assert wait_events(receiver, datasource.id, 2) == [
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
        tsc = signed_in(first.base_url, receiver=receiver)
        datasource = publish_datasource(tsc, tmp_path, textscan(csv_file(tmp_path)))
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
        events = wait_events(receiver, datasource.id, 2)
        time.sleep(4 * POLL_S)
        assert (
            events_for(receiver, datasource.id)
            == events
            == [
                "DatasourceRefreshStarted",
                "DatasourceRefreshSucceeded",
            ]
        )
        tsc = signed_in(second.base_url)
        assert len(_jobs_of(tsc, datasource.name)) == 1
        assert tsc.schedules.get_by_id(created.id).next_run_at == start
        tsc.auth.sign_out()
    finally:
        second.stop()


# ----------------------------------------------- PostgreSQL: two workers share the schedules


class FirstConnectionHangs(CountingListener):
    """A TCP relay on 127.0.0.1 to a real database: its first client is accepted and never
    answered (a refresh stuck connecting), every later one is piped through to the database."""

    def __init__(self, target: tuple[str, int]) -> None:
        super().__init__(behaviour="silent")
        self.target = target
        self._taken = 0
        self._count = threading.Lock()

    def handle(self, client: socket.socket) -> None:
        with self._count:
            self._taken += 1
            first = self._taken == 1
        if first:
            super().handle(client)  # held open, never answered
            return
        with socket.create_connection(self.target) as upstream:
            back = threading.Thread(target=self._pipe, args=(upstream, client), daemon=True)
            back.start()
            self._pipe(client, upstream)
            back.join()

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


@pytest.fixture()
def warehouse(postgres_admin_url: str) -> dict[str, str]:
    """A PostgreSQL database and a password-protected role for a data source to point at."""
    return job_support.warehouse(postgres_admin_url, "sched")


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
            worker = Worker(database_url, tmp_path, SCHEDULE_ENV)
            cleanup.callback(worker.stop)
            worker.start().wait_ready()
        tsc = signed_in(server.base_url, receiver=receiver)
        cleanup.callback(tsc.auth.sign_out)
        sources = [
            publish_datasource(tsc, tmp_path, textscan(csv_file(tmp_path))) for _ in range(3)
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
            wait_events(receiver, datasource.id, 2)
        time.sleep(4 * POLL_S)
        for datasource in sources:
            assert events_for(receiver, datasource.id) == [
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
        worker_a = Worker(database_url, tmp_path, SCHEDULE_ENV)
        cleanup.callback(worker_a.stop)
        worker_a.start().wait_ready()
        tsc = signed_in(server.base_url, receiver=receiver)
        cleanup.callback(tsc.auth.sign_out)
        connection = connection_xml(
            "postgres",
            server="127.0.0.1",
            port=str(relay.port),
            dbname=warehouse["dbname"],
            username=warehouse["user"],
        )
        datasource = publish_datasource(
            tsc, tmp_path, connection, (warehouse["user"], warehouse["password"])
        )
        schedule_id, _ = _due_soon(tsc)
        tsc.schedules.add_to_schedule(schedule_id, datasource=datasource)

        # Worker A's refresh is connecting (and hangs).
        relay.wait("the scheduled refresh connecting", lambda r: r.connections >= 1)
        worker_b = Worker(database_url, tmp_path, SCHEDULE_ENV)
        cleanup.callback(worker_b.stop)
        worker_b.start().wait_ready()
        worker_a.kill()

        assert wait_events(receiver, datasource.id, 2) == [
            "DatasourceRefreshStarted",
            "DatasourceRefreshSucceeded",
        ]
        time.sleep(2 * LEASE_S)  # a second completion, had there been one, would show by now
        assert events_for(receiver, datasource.id) == [
            "DatasourceRefreshStarted",
            "DatasourceRefreshSucceeded",
        ]
        (job,) = _jobs_of(tsc, datasource.name)
        assert job.status == "Success"
        assert relay.connections == 2  # A's hung attempt, then B's
