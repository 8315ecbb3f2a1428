"""Refreshes really connect: TSC refresh + wait_for_job succeeds, or raises JobFailedException
when the embedded PostgreSQL password is wrong; every refresh fires Started then
Succeeded/Failed; a second refresh while queued is 409093; flows run and fire FlowCompleted."""

from __future__ import annotations

import socket
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import tableauserverclient as TSC

from tests.support import jobs as job_support
from tests.support.receiver import Receiver
from tests.support.server import ServerProcess
from tests.support.tableau_samples import connection_xml, datasource_xml, package, workbook_xml

REFRESH_EVENTS = [
    "DatasourceRefreshStarted",
    "DatasourceRefreshSucceeded",
    "DatasourceRefreshFailed",
    "WorkbookRefreshStarted",
    "WorkbookRefreshSucceeded",
    "WorkbookRefreshFailed",
    "FlowCompleted",
]


@pytest.fixture(scope="module")
def warehouse(postgres_admin_url: str) -> dict[str, str]:
    """A PostgreSQL database and a password-protected role for data sources to point at."""
    return job_support.warehouse(postgres_admin_url, "refresher")


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def tsc(server: ServerProcess, receiver: Receiver) -> Iterator[TSC.Server]:
    tsc_server = job_support.signed_in(server.base_url, receiver=receiver, events=REFRESH_EVENTS)
    yield tsc_server
    tsc_server.auth.sign_out()


def _publish_datasource(
    tsc: TSC.Server,
    tmp_path: Path,
    name: str,
    connection: str,
    credentials: tuple[str, str] | None = None,
) -> TSC.DatasourceItem:
    path = tmp_path / f"{name}.tds"
    path.write_bytes(datasource_xml(connection, name))
    embedded = TSC.ConnectionCredentials(*credentials, embed=True) if credentials else None
    item = TSC.DatasourceItem(job_support.default_project(tsc), name=name)
    return tsc.datasources.publish(
        item, str(path), TSC.Server.PublishMode.CreateNew, connection_credentials=embedded
    )


def _events_for(receiver: Receiver, resource_luid: str, count: int) -> list[dict[str, Any]]:
    return job_support.wait_payloads(receiver, resource_luid, count, timeout_s=20)


def test_postgres_refresh_succeeds_then_fails_with_wrong_password(
    tsc: TSC.Server, receiver: Receiver, warehouse: dict[str, str], tmp_path: Path
) -> None:
    connection = connection_xml(
        "postgres",
        server=warehouse["host"],
        port=warehouse["port"],
        dbname=warehouse["dbname"],
        username=warehouse["user"],
    )
    datasource = _publish_datasource(
        tsc, tmp_path, "Warehouse Orders", connection, (warehouse["user"], warehouse["password"])
    )
    job = tsc.datasources.refresh(datasource)
    finished = tsc.jobs.wait_for_job(job, timeout=30)
    assert finished.finish_code == 0 and finished.completed_at is not None
    started, succeeded = _events_for(receiver, datasource.id, 2)
    assert [started["event_type"], succeeded["event_type"]] == [
        "DatasourceRefreshStarted",
        "DatasourceRefreshSucceeded",
    ]
    assert started["resource"] == "EXTRACTS" and started["resource_name"] == "Warehouse Orders"
    assert started["site_luid"] == tsc.site_id

    tsc.datasources.populate_connections(datasource)
    (conn,) = datasource.connections
    conn.password = "wrong-password"
    conn.embed_password = True
    tsc.datasources.update_connection(datasource, conn)
    failing = tsc.datasources.refresh(datasource)
    with pytest.raises(TSC.JobFailedException) as failure:
        tsc.jobs.wait_for_job(failing, timeout=30)
    # The failure's class, in our words: not the server's message (a foreign service's bytes).
    assert failure.value.notes == [f"postgres://{warehouse['host']}: authentication failed"]
    events = _events_for(receiver, datasource.id, 4)
    assert [e["event_type"] for e in events][-2:] == [
        "DatasourceRefreshStarted",
        "DatasourceRefreshFailed",
    ]


def test_sqlite_and_csv_refreshes_follow_the_files(
    tsc: TSC.Server, receiver: Receiver, tmp_path: Path
) -> None:
    database = tmp_path / "sales.db"
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE sales (amount INTEGER)")
    csv_file = tmp_path / "orders.csv"
    csv_file.write_text("id,amount\n1,10\n")
    present = _publish_datasource(
        tsc, tmp_path, "Local Sales", connection_xml("sqlite", filename=str(database))
    )
    text = _publish_datasource(
        tsc, tmp_path, "Orders CSV", connection_xml("textscan", filename=str(csv_file))
    )
    missing = _publish_datasource(
        tsc, tmp_path, "Gone Sales", connection_xml("sqlite", filename=str(tmp_path / "nope.db"))
    )
    assert tsc.jobs.wait_for_job(tsc.datasources.refresh(present), timeout=30).finish_code == 0
    assert tsc.jobs.wait_for_job(tsc.datasources.refresh(text), timeout=30).finish_code == 0
    with pytest.raises(TSC.JobFailedException) as failure:
        tsc.jobs.wait_for_job(tsc.datasources.refresh(missing), timeout=30)
    assert "file not found" in " ".join(failure.value.notes)
    assert [e["event_type"] for e in _events_for(receiver, missing.id, 2)] == [
        "DatasourceRefreshStarted",
        "DatasourceRefreshFailed",
    ]


def test_workbook_refresh_and_duplicate_while_queued(
    tsc: TSC.Server, receiver: Receiver, tmp_path: Path
) -> None:
    # A "server" that accepts and never answers keeps the refresh connecting for a while.
    black_hole = socket.socket()
    black_hole.bind(("127.0.0.1", 0))
    black_hole.listen(8)
    port = black_hole.getsockname()[1]
    try:
        path = tmp_path / "Slow.twbx"
        path.write_bytes(
            package(
                "Slow.twb",
                workbook_xml(
                    connection_xml(
                        "postgres", server="127.0.0.1", port=str(port), dbname="x", username="u"
                    )
                ),
            )
        )
        workbook = tsc.workbooks.publish(
            TSC.WorkbookItem(job_support.default_project(tsc), name="Slow"),
            str(path),
            TSC.Server.PublishMode.CreateNew,
        )
        job = tsc.workbooks.refresh(workbook)
        assert job is not None and job.type == "RefreshExtract"
        second = httpx.post(
            f"{tsc.baseurl}/sites/{tsc.site_id}/workbooks/{workbook.id}/refresh",
            content="<tsRequest/>",
            headers={"X-Tableau-Auth": tsc.auth_token},
        )
        assert second.status_code == 409 and 'code="409093"' in second.text
        cancelled = tsc.jobs.cancel(job.id)
        assert cancelled.status_code == 200
        assert tsc.jobs.get_by_id(job.id).finish_code == 2
    finally:
        black_hole.close()
    quick = tmp_path / "Quick.twb"
    quick.write_bytes(
        workbook_xml(connection_xml("sqlserver", server="db.example.com", dbname="x"))
    )
    workbook = tsc.workbooks.publish(
        TSC.WorkbookItem(job_support.default_project(tsc), name="Quick"),
        str(quick),
        TSC.Server.PublishMode.CreateNew,
    )
    assert tsc.jobs.wait_for_job(tsc.workbooks.refresh(workbook), timeout=30).finish_code == 0
    events = _events_for(receiver, workbook.id, 2)
    assert [e["event_type"] for e in events] == [
        "WorkbookRefreshStarted",
        "WorkbookRefreshSucceeded",
    ]
    jobs, pagination = tsc.jobs.get()
    assert pagination.total_available >= 2 and {j.status for j in jobs} >= {"Success", "Cancelled"}


def test_flow_publish_and_run_fires_flow_completed(
    server: ServerProcess, tsc: TSC.Server, receiver: Receiver, tmp_path: Path
) -> None:
    flow_file = tmp_path / "Prep.tfl"
    flow_file.write_bytes(package("flow", b'{"nodes": {}}'))
    flow = tsc.flows.publish(
        TSC.FlowItem(job_support.default_project(tsc), name="Nightly Prep"),
        str(flow_file),
        TSC.Server.PublishMode.CreateNew,
    )
    job = tsc.flows.refresh(flow)
    assert tsc.jobs.wait_for_job(job, timeout=30).finish_code == 0
    (completed,) = _events_for(receiver, flow.id, 1)
    assert completed["event_type"] == "FlowCompleted" and completed["resource"] == "FLOW"
    assert threading.active_count() >= 1


def test_publish_as_job_returns_a_job_tsc_can_wait_for(tsc: TSC.Server, tmp_path: Path) -> None:
    path = tmp_path / "AsJob.twb"
    path.write_bytes(workbook_xml(connection_xml("sqlserver", server="db.example.com")))
    job = tsc.workbooks.publish(
        TSC.WorkbookItem(job_support.default_project(tsc), name="As Job"),
        str(path),
        TSC.Server.PublishMode.CreateNew,
        as_job=True,
    )
    assert job.type == "PublishWorkbook"
    assert tsc.jobs.wait_for_job(job, timeout=30).finish_code == 0
