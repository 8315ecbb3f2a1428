"""Job control (issue 18), on both back ends: TSC's sample ``kill_all_jobs.py`` (jobs filtered
by ``progress:lte:0`` and cancelled) unmodified; a pending refresh cancelled before it is taken
never starts and fires nothing; a running refresh reports its progress connection by
connection, and once cancelled fires no success event and is never completed.

A "database" that hangs is a TCP listener on 127.0.0.1 that accepts and never answers
(:class:`tests.support.listeners.CountingListener`, ``silent``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import tableauserverclient as TSC

from tests.support import jobs
from tests.support.listeners import CountingListener
from tests.support.receiver import Receiver
from tests.support.server import ServerProcess
from tests.support.tableau_samples import connection_xml

LEASE_S = 2
#: One job of a site at a time, so a second one waits; a short lease, so a cancelled running
#: job learns of it quickly.
JOB_ENV = {
    "TABHOOKS_JOB_CONCURRENCY_PER_SITE": "1",
    "TABHOOKS_JOB_LEASE_S": str(LEASE_S),
    "TABHOOKS_JOB_TIMEOUT_S": "60",
}


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


# ----------------------------------------------------------------------------- queued jobs


@pytest.fixture(scope="module")
def idle_server(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """No runner: every refresh stays queued (progress 0) until cancelled."""
    workdir = tmp_path_factory.mktemp("job-control-idle")
    yield from jobs.serving(backend, request, workdir, {}, ("--dev", "--no-dispatcher"))


def test_kill_all_jobs_sample_cancels_the_queued_ones(
    idle_server: ServerProcess, tmp_path: Path
) -> None:
    tsc = jobs.signed_in(idle_server.base_url)
    try:
        queued = [
            tsc.datasources.refresh(jobs.publish_datasource(tsc, tmp_path, _ds_hyper())).id
            for _ in range(3)
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
def hole() -> Iterator[CountingListener]:
    with CountingListener(behaviour="silent") as running:
        yield running


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    yield from jobs.receiving()


@pytest.fixture(scope="module")
def busy_server(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    yield from jobs.serving(backend, request, tmp_path_factory.mktemp("job-control-busy"), JOB_ENV)


@pytest.fixture(scope="module")
def busy(busy_server: ServerProcess, receiver: Receiver) -> Iterator[TSC.Server]:
    tsc = jobs.signed_in(busy_server.base_url, receiver=receiver)
    yield tsc
    tsc.auth.sign_out()


def test_progress_while_running_then_cancel_running_and_pending(
    busy: TSC.Server, hole: CountingListener, receiver: Receiver, tmp_path: Path
) -> None:
    # Distinct, or publishing would keep one.
    slow = [jobs.hanging_connection(hole, dbname=f"db{n}") for n in range(4)]
    # One quick connection and four that hang until libpq's 10 s connect timeout each, reached
    # in no set order: the refresh runs about 40 s, at 10 % when taken, then 26, 42, 58 and
    # 74 % as each connection is reached, 100 % only once it is over. Whenever the first of
    # those is reported, at least three hanging connections are still to come.
    hanging = jobs.publish_datasource(
        busy,
        tmp_path,
        _datasource_file(connection_xml("hyper"), *slow, caption="slow"),
    )
    waiting = jobs.publish_datasource(busy, tmp_path, _ds_hyper())
    running_id = busy.datasources.refresh(hanging).id
    hole.wait("the refresh reaching a hanging connection", lambda h: h.open == 1)
    jobs.wait_until("progress past 10", lambda: busy.jobs.get_by_id(running_id).progress != "10")
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
    reached = hole.connections
    time.sleep(2 * LEASE_S)  # time for a runner that still thought it held them to record them

    cancelled_running = busy.jobs.get_by_id(running_id)
    cancelled_pending = busy.jobs.get_by_id(pending_id)
    assert (cancelled_running.finish_code, cancelled_running.progress) == (2, "100")
    assert (cancelled_pending.finish_code, cancelled_pending.started_at) == (2, None)
    assert jobs.wait_events(receiver, hanging.id, 1) == [
        "DatasourceRefreshStarted"
    ]  # nothing after
    assert jobs.events_for(receiver, waiting.id) == []  # never taken: not even started
    assert hole.connections == reached  # no connection after the cancellation
