"""What a refresh may reach, end to end with unmodified TSC: file connections only below
TABHOOKS_FILE_CONNECTION_ROOTS (symlinks and '..' resolved first), database hosts only in
TABHOOKS_CONNECTION_ALLOWED_CIDRS when it is set, and job notes that name the failure's class
without repeating a byte the other end sent."""

from __future__ import annotations

import socket
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import tableauserverclient as TSC

from tests.support import databases
from tests.support.fake_postgres import MARKER, FakePostgres, Mode
from tests.support.server import ADMIN_PASSWORD, ADMIN_USERNAME, ServerProcess
from tests.support.tableau_samples import connection_xml, datasource_xml

OUTSIDE_ROOTS = (
    "{name} is outside the folders this server reads connection files from "
    "(TABHOOKS_FILE_CONNECTION_ROOTS)"
)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The only folder refreshes may read: a CSV and a SQLite file, and links out of it."""
    folder = tmp_path_factory.mktemp("connection-root")
    (folder / "orders.csv").write_text("id,amount\n1,10\n2,20\n")
    with sqlite3.connect(folder / "sales.db") as db:
        db.execute("CREATE TABLE sales (amount INTEGER)")
    beside = folder.parent / f"beside-{uuid.uuid4().hex[:6]}.csv"
    beside.write_text("not,yours\n")
    (folder / "escape.csv").symlink_to(beside)
    (folder / "passwd.db").symlink_to("/etc/passwd")
    (folder / "etc").symlink_to("/etc")
    return folder


@pytest.fixture(scope="module")
def server(root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("reach")
    env = {
        "TABHOOKS_FILE_CONNECTION_ROOTS": str(root),
        "TABHOOKS_CONNECTION_ALLOWED_CIDRS": "127.0.0.1/32",
    }
    running = ServerProcess(databases.new_sqlite_url(workdir), workdir, env).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def tsc(server: ServerProcess) -> Iterator[TSC.Server]:
    tsc_server = TSC.Server(server.base_url, use_server_version=True)
    tsc_server.auth.sign_in(TSC.TableauAuth(ADMIN_USERNAME, ADMIN_PASSWORD, site_id=""))
    yield tsc_server
    tsc_server.auth.sign_out()


def _refresh(tsc: TSC.Server, tmp_path: Path, connection: str) -> list[str]:
    """Publish a data source with ``connection``, refresh it: its job's notes if it failed,
    ``[]`` if it succeeded."""
    name = f"ds-{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{name}.tds"
    path.write_bytes(datasource_xml(connection, name))
    options = TSC.RequestOptions()
    options.filter.add(TSC.Filter("name", "eq", "Default"))
    project = tsc.projects.get(options)[0][0].id
    credentials = TSC.ConnectionCredentials("u", "wrong-password", embed=True)
    item = tsc.datasources.publish(
        TSC.DatasourceItem(project, name=name),
        str(path),
        TSC.Server.PublishMode.CreateNew,
        connection_credentials=credentials,
    )
    try:
        tsc.jobs.wait_for_job(tsc.datasources.refresh(item), timeout=60)
    except TSC.JobFailedException as failed:
        return list(failed.notes)
    return []


def _file(kind: str, filename: str) -> str:
    return connection_xml(kind, filename=filename)


def test_files_below_the_root_refresh(tsc: TSC.Server, root: Path, tmp_path: Path) -> None:
    assert _refresh(tsc, tmp_path, _file("textscan", str(root / "orders.csv"))) == []
    assert _refresh(tsc, tmp_path, _file("sqlite", str(root / "sales.db"))) == []


@pytest.mark.parametrize("kind", ["textscan", "sqlite"])
@pytest.mark.parametrize(
    "filename",
    [
        "/etc/passwd",
        "/etc/no-such-file-7f3a",  # answered like /etc/passwd: no existence oracle
        "{root}/escape.csv",  # a symlink in the root to a file beside it
        "{root}/passwd.db",  # a symlink in the root to /etc/passwd
        "{root}/etc/passwd",  # through a symlinked folder
        "{root}/../{beside}",  # '..' out of the root
    ],
)
def test_a_file_outside_the_roots_is_refused_with_a_clear_note(
    tsc: TSC.Server, root: Path, tmp_path: Path, kind: str, filename: str
) -> None:
    beside = (root / "escape.csv").resolve().name
    name = filename.format(root=root, beside=beside)
    prefix = "text" if kind == "textscan" else "sqlite"
    notes = _refresh(tsc, tmp_path, _file(kind, name))
    assert notes == [f"{prefix}: {OUTSIDE_ROOTS.format(name=name)}"]


def test_a_missing_file_below_the_root_says_so(tsc: TSC.Server, root: Path, tmp_path: Path) -> None:
    name = str(root / "gone.csv")
    assert _refresh(tsc, tmp_path, _file("textscan", name)) == [f"text: file not found: {name}"]


def _postgres(host: str, port: int) -> str:
    return connection_xml("postgres", server=host, port=str(port), dbname="x", username="u")


@pytest.fixture
def fake() -> Iterator[dict[Mode, FakePostgres]]:
    running: dict[Mode, FakePostgres] = {
        mode: FakePostgres(mode).start() for mode in ("garbage", "auth_failure", "fatal")
    }
    yield running
    for service in running.values():
        service.stop()


@pytest.mark.parametrize(
    ("mode", "failure"),
    [
        ("garbage", "not a PostgreSQL server"),
        ("auth_failure", "authentication failed"),
        ("fatal", "refused by the server"),
    ],
)
def test_a_foreign_services_answer_becomes_a_failure_class_not_its_bytes(
    tsc: TSC.Server, tmp_path: Path, fake: dict[Mode, FakePostgres], mode: Mode, failure: str
) -> None:
    service = fake[mode]
    notes = _refresh(tsc, tmp_path, _postgres("127.0.0.1", service.port))
    assert notes == [f"postgres://127.0.0.1: {failure}"]
    assert service.connections >= 1
    text = " ".join(notes)
    assert MARKER.decode() not in text and "MARKER" not in text and "HTTP" not in text


def test_a_closed_port_is_connection_refused(tsc: TSC.Server, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    notes = _refresh(tsc, tmp_path, _postgres("127.0.0.1", port))
    assert notes == ["postgres://127.0.0.1: connection refused"]


@pytest.mark.parametrize("host", ["127.0.0.2", "::1"])
def test_a_database_host_outside_the_allowed_cidrs_is_never_connected(
    tsc: TSC.Server, tmp_path: Path, host: str
) -> None:
    listener = FakePostgres("auth_failure", host=host).start()
    try:
        notes = _refresh(tsc, tmp_path, _postgres(host, listener.port))
    finally:
        listener.stop()
    assert notes == [
        f"postgres://{host}: {host} is outside the networks refreshes may reach "
        "(TABHOOKS_CONNECTION_ALLOWED_CIDRS)"
    ]
    assert listener.connections == 0


def test_a_unix_socket_folder_is_not_a_database_host(tsc: TSC.Server, tmp_path: Path) -> None:
    notes = _refresh(tsc, tmp_path, _postgres("/var/run/postgresql", 5432))
    assert notes == [
        "postgres:///var/run/postgresql: '/var/run/postgresql' is not a host name or IP address"
    ]
