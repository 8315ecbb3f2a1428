"""Job control (issue 18), on both back ends: TSC's sample ``kill_all_jobs.py`` (jobs filtered
by ``progress:lte:0`` and cancelled) unmodified; a pending refresh cancelled before it is taken
never starts and fires nothing; a running refresh reports its progress connection by
connection, and once cancelled fires no success event and is never completed.

A "database" that hangs is a TCP listener on 127.0.0.1 that accepts and never answers
(:class:`tests.acceptance.test_job_fairness.BlackHole`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import tableauserverclient as TSC

from tests.acceptance.test_job_fairness import BlackHole, _events, _wait_events
from tests.conftest import database_url_for
from tests.support.receiver import Receiver
from tests.support.rest import Rest
from tests.support.server import ADMIN_PASSWORD, ADMIN_USERNAME, ServerProcess
from tests.support.tableau_samples import connection_xml

REFRESH_EVENTS = (
    "DatasourceRefreshStarted",
    "DatasourceRefreshSucceeded",
    "DatasourceRefreshFailed",
)
LEASE_S = 2
#: One job of a site at a time, so a second one waits; a short lease, so a cancelled running
#: job learns of it quickly.
JOB_ENV = {
    "TABHOOKS_JOB_CONCURRENCY_PER_SITE": "1",
    "TABHOOKS_JOB_LEASE_S": str(LEASE_S),
    "TABHOOKS_JOB_TIMEOUT_S": "60",
}
WAIT_S = 60.0


def _datasource_file(*connections: str, caption: str = "sample") -> bytes:
    """A .tds whose data source has these connections, reached in this order."""
    named = "".join(
        f"<named-connection name='c{n}'>{c}</named-connection>"
        for n, c in enumerate(connections, start=1)
    )
    return (
        "<?xml version='1.0' encoding='utf-8' ?>\n"
        f"<datasource formatted-name='{caption}' inline='true' version='18.1' "
        "xmlns:user='http://www.tableausoftware.com/xml/user'>"
        f"<connection class='federated'><named-connections>{named}</named-connections>"
        "</connection></datasource>"
    ).encode()


def _signed_in(server: ServerProcess) -> TSC.Server:
    tsc = TSC.Server(server.base_url, use_server_version=True)
    tsc.auth.sign_in(TSC.TableauAuth(ADMIN_USERNAME, ADMIN_PASSWORD, site_id=""))
    return tsc


def _publish(tsc: TSC.Server, tmp_path: Path, data: bytes) -> TSC.DatasourceItem:
    name = f"jobs-{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{name}.tds"
    path.write_bytes(data)
    options = TSC.RequestOptions()
    options.filter.add(TSC.Filter("name", "eq", "Default"))
    project = tsc.projects.get(options)[0][0].id
    return tsc.datasources.publish(
        TSC.DatasourceItem(project, name=name), str(path), TSC.Server.PublishMode.CreateNew
    )


def _wait(what: str, check: object) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if callable(check) and check():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} never happened")


# ----------------------------------------------------------------------------- queued jobs


@pytest.fixture(scope="module")
def idle_server(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """No runner: every refresh stays queued (progress 0) until cancelled."""
    workdir = tmp_path_factory.mktemp("job-control-idle")
    running = ServerProcess(
        database_url_for(backend, request, workdir), workdir, args=("--dev", "--no-dispatcher")
    ).start()
    yield running
    running.stop()


def test_kill_all_jobs_sample_cancels_the_queued_ones(
    idle_server: ServerProcess, tmp_path: Path
) -> None:
    tsc = _signed_in(idle_server)
    try:
        queued = [
            tsc.datasources.refresh(_publish(tsc, tmp_path, _ds_hyper())).id for _ in range(3)
        ]
        # A job that finished as it was created (a publish asked as a job): progress 100.
        path = tmp_path / "done.tds"
        path.write_bytes(_ds_hyper())
        done_item = TSC.DatasourceItem(tsc.projects.get()[0][0].id, name=f"done-{uuid.uuid4()}")
        done = tsc.datasources.publish(done_item, str(path), "CreateNew", as_job=True)

        # kill_all_jobs.py, as published:
        req = TSC.RequestOptions()
        req.filter.add(TSC.Filter("progress", TSC.RequestOptions.Operator.LessThanOrEqual, 0))
        killed = []
        for job in TSC.Pager(tsc.jobs, request_opts=req):
            print(tsc.jobs.cancel(job.id), job.id, job.status, job.type)
            killed.append(job.id)

        assert sorted(killed) == sorted(queued)
        for job_id in queued:
            cancelled = tsc.jobs.get_by_id(job_id)
            assert (cancelled.finish_code, cancelled.started_at) == (2, None)
        assert tsc.jobs.get_by_id(done.id).finish_code == 0
        # Cancelled jobs are finished: cancelling again is refused, and the filter is empty.
        with pytest.raises(TSC.ServerResponseError) as again:
            tsc.jobs.cancel(queued[0])
        assert again.value.code == "409000"
        assert list(TSC.Pager(tsc.jobs, request_opts=req)) == []
    finally:
        tsc.auth.sign_out()


def _ds_hyper() -> bytes:
    return _datasource_file(connection_xml("hyper"), connection_xml("hyper"), caption="quick")


# ----------------------------------------------------------------------------- running jobs


@pytest.fixture(scope="module")
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
def busy_server(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("job-control-busy")
    running = ServerProcess(database_url_for(backend, request, workdir), workdir, JOB_ENV).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def busy(busy_server: ServerProcess, receiver: Receiver) -> Iterator[TSC.Server]:
    rest = Rest.sign_in(busy_server)
    for event in REFRESH_EVENTS:
        rest.create_webhook(f"control-{event}", event, receiver.url)
    rest.close()
    tsc = _signed_in(busy_server)
    yield tsc
    tsc.auth.sign_out()


def test_progress_while_running_then_cancel_running_and_pending(
    busy: TSC.Server, hole: BlackHole, receiver: Receiver, tmp_path: Path
) -> None:
    slow = [  # distinct, or publishing would keep one
        connection_xml("postgres", server="127.0.0.1", port=str(hole.port), dbname=f"db{n}")
        for n in range(4)
    ]
    # One quick connection and four that hang until libpq's 10 s connect timeout each, reached
    # in no set order: the refresh runs about 40 s, at 10 % when taken, then 26, 42, 58 and
    # 74 % as each connection is reached, 100 % only once it is over. Whenever the first of
    # those is reported, at least three hanging connections are still to come.
    hanging = _publish(
        busy,
        tmp_path,
        _datasource_file(connection_xml("hyper"), *slow, caption="slow"),
    )
    waiting = _publish(busy, tmp_path, _ds_hyper())
    running_id = busy.datasources.refresh(hanging).id
    hole.wait("the refresh reaching a hanging connection", lambda h: h.open == 1)
    _wait("progress past 10", lambda: busy.jobs.get_by_id(running_id).progress != "10")
    running = busy.jobs.get_by_id(running_id)
    assert running.progress in ("26", "42", "58", "74")
    assert (running.started_at is not None, running.completed_at, running.finish_code) == (
        True,
        None,
        -1,
    )
    listed = busy.jobs.filter(progress__gt=10, progress__lt=100)
    assert running_id in [j.id for j in listed]

    # The site's one slot is taken: the next refresh waits, and is cancelled while it does.
    pending_id = busy.datasources.refresh(waiting).id
    time.sleep(1.0)
    assert busy.jobs.get_by_id(pending_id).started_at is None
    busy.jobs.cancel(pending_id)
    busy.jobs.cancel(running_id)
    hole.wait("the cancelled refresh hanging up", lambda h: h.open == 0)
    reached = hole.accepted
    time.sleep(2 * LEASE_S)  # time for a runner that still thought it held them to record them

    cancelled_running = busy.jobs.get_by_id(running_id)
    cancelled_pending = busy.jobs.get_by_id(pending_id)
    assert (cancelled_running.finish_code, cancelled_running.progress) == (2, "100")
    assert (cancelled_pending.finish_code, cancelled_pending.started_at) == (2, None)
    assert _wait_events(receiver, hanging.id, 1) == ["DatasourceRefreshStarted"]  # nothing after
    assert _events(receiver, waiting.id) == []  # never taken: not even started
    assert hole.accepted == reached  # no connection after the cancellation
