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
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
import tableauserverclient as TSC

from tests.support.databases import new_postgres_url
from tests.support.jobs import (
    DATASOURCE_REFRESH_EVENTS,
    WAIT_S,
    Worker,
    default_project,
    events_for,
    hanging_connection,
    publish_datasource,
    receiving,
    serving,
    signed_in,
    wait_events,
    wait_finished,
)
from tests.support.listeners import CountingListener
from tests.support.receiver import Receiver
from tests.support.server import ServerProcess
from tests.support.tableau_samples import connection_xml, workbook_xml

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
    *DATASOURCE_REFRESH_EVENTS,
    "WorkbookRefreshStarted",
    "WorkbookRefreshSucceeded",
    "WorkbookRefreshFailed",
)


@pytest.fixture
def hole() -> Iterator[CountingListener]:
    """A database that hangs: accepts connections on 127.0.0.1 and never answers."""
    with CountingListener(behaviour="silent") as running:
        yield running


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    yield from receiving()


@pytest.fixture(scope="module")
def server(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    yield from serving(backend, request, tmp_path_factory.mktemp("fair-jobs"), JOB_ENV)


@pytest.fixture(scope="module")
def site_a(server: ServerProcess, receiver: Receiver) -> Iterator[TSC.Server]:
    tsc = signed_in(server.base_url, "", receiver, REFRESH_EVENTS)
    yield tsc
    tsc.auth.sign_out()


@pytest.fixture(scope="module")
def site_b(server: ServerProcess, site_a: TSC.Server, receiver: Receiver) -> Iterator[TSC.Server]:
    site_a.sites.create(TSC.SiteItem("Fair B", "fair-b"))
    tsc = signed_in(server.base_url, "fair-b", receiver, REFRESH_EVENTS)
    yield tsc
    tsc.auth.sign_out()


def _statuses(tsc: TSC.Server, job_ids: list[str]) -> dict[str, str]:
    """Each job's status (Pending, InProgress, Success, Failed, Cancelled)."""
    options = TSC.RequestOptions(pagesize=1000)
    jobs, _ = tsc.jobs.get(options)
    found = {job.id: job.status for job in jobs}
    return {job_id: found[job_id] for job_id in job_ids}


def test_a_sites_slow_refreshes_do_not_hold_up_another_sites(
    site_a: TSC.Server,
    site_b: TSC.Server,
    receiver: Receiver,
    hole: CountingListener,
    tmp_path: Path,
) -> None:
    slow = [publish_datasource(site_a, tmp_path, hanging_connection(hole)) for _ in range(5)]
    quick = publish_datasource(
        site_b, tmp_path, connection_xml("sqlserver", server="db.example.com")
    )
    slow_jobs = [site_a.datasources.refresh(ds).id for ds in slow]
    hole.wait("site A's refreshes connecting", lambda h: h.connections >= 1)
    quick_job = site_b.datasources.refresh(quick).id

    done = wait_finished(site_b, quick_job)
    behind = _statuses(site_a, slow_jobs)
    assert done.finish_code == 0
    # Site B's refresh finished while every one of site A's was still queued or running ...
    assert set(behind.values()) <= {"Pending", "InProgress"}, behind
    # ... and site A never held more than its share of the slots.
    assert list(behind.values()).count("InProgress") == PER_SITE, behind
    assert hole.most_open <= PER_SITE
    assert wait_events(receiver, quick.id, 2) == [
        "DatasourceRefreshStarted",
        "DatasourceRefreshSucceeded",
    ]
    # The queued ones first: cancelling a running one frees a place the next would take.
    for job_id in sorted(slow_jobs, key=lambda j: behind[j] == "InProgress"):
        with contextlib.suppress(TSC.ServerResponseError):  # 409: it finished meanwhile
            site_a.jobs.cancel(job_id)
    hole.wait("site A's refreshes hanging up", lambda h: h.open == 0)


def test_a_job_longer_than_its_lease_runs_once(
    site_a: TSC.Server, receiver: Receiver, hole: CountingListener, tmp_path: Path
) -> None:
    datasource = publish_datasource(site_a, tmp_path, hanging_connection(hole))
    job = wait_finished(site_a, site_a.datasources.refresh(datasource).id)
    assert job.finish_code == 1 and list(job.notes) == [TIMEOUT_NOTE]
    events = wait_events(receiver, datasource.id, 2)
    hole.wait("the refresh hanging up", lambda h: h.open == 0)
    time.sleep(2 * LEASE_S)  # a second run, had there been one, would show by now
    # The job lasted three leases, yet it connected once and completed once.
    assert hole.connections == 1
    assert (
        events_for(receiver, datasource.id)
        == events
        == [
            "DatasourceRefreshStarted",
            "DatasourceRefreshFailed",
        ]
    )


def test_the_time_limit_fails_the_job_with_a_note_and_one_failure_event(
    site_a: TSC.Server, receiver: Receiver, hole: CountingListener, tmp_path: Path
) -> None:
    path = tmp_path / "Hangs.twb"
    path.write_bytes(workbook_xml(hanging_connection(hole)))
    workbook = site_a.workbooks.publish(
        TSC.WorkbookItem(default_project(site_a), name=f"Hangs {uuid.uuid4().hex[:6]}"),
        str(path),
        TSC.Server.PublishMode.CreateNew,
    )
    job = site_a.workbooks.refresh(workbook)
    with pytest.raises(TSC.JobFailedException) as failed:
        site_a.jobs.wait_for_job(job, timeout=WAIT_S)
    assert list(failed.value.notes) == [TIMEOUT_NOTE]
    assert wait_events(receiver, workbook.id, 2) == [
        "WorkbookRefreshStarted",
        "WorkbookRefreshFailed",
    ]
    hole.wait("the stopped refresh hanging up", lambda h: h.open == 0)
    time.sleep(2 * LEASE_S)
    assert events_for(receiver, workbook.id) == ["WorkbookRefreshStarted", "WorkbookRefreshFailed"]


def test_a_cancelled_running_refresh_stops_and_is_never_completed(
    site_a: TSC.Server, receiver: Receiver, hole: CountingListener, tmp_path: Path
) -> None:
    datasource = publish_datasource(site_a, tmp_path, hanging_connection(hole))
    job_id = site_a.datasources.refresh(datasource).id
    hole.wait("the refresh connecting", lambda h: h.open == 1)
    site_a.jobs.cancel(job_id)
    # The runner learns of it at its next lease renewal and drops the connection.
    hole.wait("the cancelled refresh hanging up", lambda h: h.open == 0)
    time.sleep(TIMEOUT_S + LEASE_S)  # past the time limit: nothing may record the job now
    assert site_a.jobs.get_by_id(job_id).finish_code == 2
    assert events_for(receiver, datasource.id) == ["DatasourceRefreshStarted"]
    assert hole.connections == 1


def test_health_answers_while_connection_checks_hang_and_read(
    server: ServerProcess, site_a: TSC.Server, hole: CountingListener, tmp_path: Path
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
    sources = [publish_datasource(site_a, tmp_path, hanging_connection(hole)) for _ in range(2)]
    sources += [publish_datasource(site_a, tmp_path, connection_xml("textscan", filename=str(big)))]
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


def test_two_workers_on_postgres_run_each_job_once_within_the_site_cap(
    postgres_admin_url: str, receiver: Receiver, hole: CountingListener, tmp_path: Path
) -> None:
    """Only the workers run jobs (the server runs no dispatcher): each slow refresh connects
    once and completes once although it outlives three leases, and the two processes together
    never run more than the site's cap of them at once."""
    database_url = new_postgres_url(postgres_admin_url)
    with ExitStack() as cleanup:
        server = ServerProcess(database_url, tmp_path, JOB_ENV, ("--dev", "--no-dispatcher"))
        cleanup.callback(server.stop)
        server.start()
        workers = [Worker(database_url, tmp_path, JOB_ENV) for _ in range(2)]
        for worker in workers:
            cleanup.callback(worker.stop)
            worker.start()
        for worker in workers:
            worker.wait_ready()
        tsc = signed_in(server.base_url, "", receiver, REFRESH_EVENTS)
        cleanup.callback(tsc.auth.sign_out)

        slow = [publish_datasource(tsc, tmp_path, hanging_connection(hole)) for _ in range(3)]
        job_ids = [tsc.datasources.refresh(ds).id for ds in slow]
        finished = [wait_finished(tsc, job_id) for job_id in job_ids]
        assert [(j.finish_code, list(j.notes)) for j in finished] == [(1, [TIMEOUT_NOTE])] * 3
        for datasource in slow:
            wait_events(receiver, datasource.id, 2)
        hole.wait("the refreshes hanging up", lambda h: h.open == 0)
        time.sleep(2 * LEASE_S)
        assert hole.connections == 3
        assert hole.most_open <= PER_SITE
        for datasource in slow:
            assert events_for(receiver, datasource.id) == [
                "DatasourceRefreshStarted",
                "DatasourceRefreshFailed",
            ]
