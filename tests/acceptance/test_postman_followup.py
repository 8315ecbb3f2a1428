"""Tableau's REST API Postman collection (tableau/tableau-postman), unmodified, under newman:
its tag, favorite and job requests (issue 18) against the real server.

The collection signs in with "Sign-in (As an Admin)", whose collection-level test script keeps
the token as the ``api-key`` collection variable that every other request sends. Collection
variables last one newman run, so each test signs in and runs its requests in one run; the ids
a request needs (``workbook-id``, ``job-id``, ...) are given with ``--env-var``, as a Postman
user types them into the environment. ``protocol`` (a collection variable, ``https``) is
overridden by the environment's ``http``, as Postman resolves variables.

The collection's metric and column/database/table requests (and its batch tag requests, which
name databases and tables) are left out: tabhooks keeps no metrics and no catalog
(docs/content.md, "Every REST method tabhooks serves").
"""

from __future__ import annotations

import os
import subprocess
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.acceptance.test_postman import NEWMAN, NEWMAN_TIMEOUT_S, Report, _parse_report, _require
from tests.conftest import database_url_for
from tests.support import tableau_samples as samples
from tests.support.rest import NS, Rest
from tests.support.server import ADMIN_PASSWORD, ADMIN_USERNAME, ServerProcess

REPO = Path(__file__).resolve().parents[2]
COLLECTION = (
    REPO.parent
    / "shared/acceptance/postman/tableau-postman/Tableau_REST_API.postman_collection.json"
)
ENVIRONMENT = (
    REPO.parent
    / "shared/acceptance/postman/tableau-postman/Tableau_Environment.postman_environment.json"
)
SIGN_IN = "Sign-in (As an Admin)"


@pytest.fixture(scope="module")
def collection() -> tuple[Path, Path]:
    _require(Path(NEWMAN).is_file(), f"newman not found at {NEWMAN} (run install_newman)")
    _require(COLLECTION.is_file() and ENVIRONMENT.is_file(), f"{COLLECTION} not found")
    return COLLECTION, ENVIRONMENT


@pytest.fixture(scope="module")
def server(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """No job runner: a queued refresh stays queued for Cancel Job."""
    workdir = tmp_path_factory.mktemp("postman-followup")
    running = ServerProcess(
        database_url_for(backend, request, workdir), workdir, args=("--dev", "--no-dispatcher")
    ).start()
    yield running
    running.stop()


def _run(
    files: tuple[Path, Path], server: ServerProcess, workdir: Path, *requests: str, **values: str
) -> Report:
    """Sign in, then run ``requests`` (in collection order) in one newman run."""
    report_path = workdir / f"report-{uuid.uuid4().hex[:6]}.json"
    env_vars = {
        "server": server.base_url.removeprefix("http://"),
        "protocol": "http",
        "content-url": "",
        "admin-username": ADMIN_USERNAME,
        "admin-password": ADMIN_PASSWORD,
        **{k.replace("_", "-"): v for k, v in values.items()},
    }
    command = [NEWMAN, "run", str(files[0]), "-e", str(files[1])]
    for entry in (SIGN_IN, *requests):
        command += ["--folder", entry]
    for key, value in env_vars.items():
        command += ["--env-var", f"{key}={value}"]
    command += [
        *("--reporters", "cli,json", "--reporter-json-export", str(report_path)),
        *("--color", "off", "--disable-unicode"),
        *("--timeout-request", "30000"),
    ]
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    done = subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=NEWMAN_TIMEOUT_S
    )
    report = _parse_report(report_path, done.returncode, done.stdout + done.stderr)
    ran = [e.name for e in report.executions]
    assert ran[0] == SIGN_IN and sorted(ran[1:]) == sorted(requests), report.output
    for execution in report.executions:
        assert 200 <= execution.status < 300, (
            f"{execution.method} /{'/'.join(execution.path)} ({execution.name}) answered "
            f"{execution.status}: {execution.body}\n{report.output}"
        )
    assert report.error is None and report.failures == [], report.output
    return report


def _published(admin: Rest, kind: str) -> str:
    name = f"postman-{kind}-{uuid.uuid4().hex[:6]}"
    data = {
        "workbook": ("tableau_workbook", f"{name}.twb", samples.workbook_xml(samples.connection_xml("hyper"))),
        "datasource": ("tableau_datasource", f"{name}.tds", samples.datasource_xml(samples.connection_xml("hyper"))),
        "flow": ("tableau_flow", f"{name}.tfl", samples.package("flow", b"{}")),
    }[kind]  # fmt: skip
    made = admin.publish(f"{kind}s", f'<tsRequest><{kind} name="{name}"/></tsRequest>', data)
    assert made.status_code == 201, made.text
    return str(made.json()[kind]["id"])


def _labels(admin: Rest, path: str) -> list[str]:
    body = admin.call("GET", path).content
    return sorted(t.get("label", "") for t in ET.fromstring(body).iterfind(".//t:tag", NS))


def test_tag_requests(
    collection: tuple[Path, Path], server: ServerProcess, admin: Rest, tmp_path: Path
) -> None:
    workbook = _published(admin, "workbook")
    datasource = _published(admin, "datasource")
    views = admin.call("GET", f"workbooks/{workbook}/views", json_out=True).json()
    view = views["views"]["view"][0]["id"]
    ids = {"workbook_id": workbook, "datasource_id": datasource, "view_id": view}
    _run(
        collection,
        server,
        tmp_path,
        "Add Tags to a Workbook",
        "Add Tags to Data Source",
        "Add Tags to a View",
        tag_name="tag",
        **ids,
    )
    for path in (f"workbooks/{workbook}", f"datasources/{datasource}", f"views/{view}"):
        assert _labels(admin, path) == ["tag"]
    _run(
        collection,
        server,
        tmp_path,
        "Delete Tag from a Workbook",
        "Delete Tag from Data Source",
        "Delete Tag from a View",
        tag_name="tag",
        **ids,
    )
    for path in (f"workbooks/{workbook}", f"datasources/{datasource}", f"views/{view}"):
        assert _labels(admin, path) == []


def test_favorite_requests(
    collection: tuple[Path, Path], server: ServerProcess, admin: Rest, tmp_path: Path
) -> None:
    workbook = _published(admin, "workbook")
    views = admin.call("GET", f"workbooks/{workbook}/views", json_out=True).json()
    project = admin.call("GET", "projects", json_out=True).json()["projects"]["project"][0]["id"]
    ids = {
        "user_id": admin.user_id,
        "workbook_id": workbook,
        "view_id": views["views"]["view"][0]["id"],
        "datasource_id": _published(admin, "datasource"),
        "flow_id": _published(admin, "flow"),
        "project_id": project,
    }
    kinds = ("Datasource", "Flow", "Project", "View", "Workbook")
    added = _run(
        collection,
        server,
        tmp_path,
        *(f"Add {kind} to Favorites" for kind in kinds),
        "Get Favorites for User",
        **ids,
    )
    favorites = ET.fromstring(added.one("Get Favorites for User").body)
    found = {
        child.get("id")
        for favorite in favorites.iterfind(".//t:favorite", NS)
        for child in favorite
    }
    assert set(ids.values()) - {admin.user_id} <= found
    names = ("Data Source", "Flow", "Project", "View", "Workbook")
    _run(collection, server, tmp_path, *(f"Delete {n} from Favorites" for n in names), **ids)
    left = admin.call("GET", f"favorites/{admin.user_id}")
    assert list(ET.fromstring(left.content).iterfind(".//t:favorite", NS)) == []


def test_job_requests(
    collection: tuple[Path, Path], server: ServerProcess, admin: Rest, tmp_path: Path
) -> None:
    datasource = _published(admin, "datasource")
    queued = admin.call("POST", f"datasources/{datasource}/refresh", "<tsRequest/>", json_out=True)
    job = queued.json()["job"]["id"]
    report = _run(collection, server, tmp_path, "Query Jobs", "Query Job", "Cancel Job", job_id=job)
    listed = ET.fromstring(report.one("Query Jobs").body)
    assert job in {j.get("id") for j in listed.iterfind(".//t:backgroundJob", NS)}
    cancelled = ET.fromstring(report.one("Cancel Job").body).find("t:job", NS)
    assert cancelled is not None and cancelled.get("finishCode") == "2"
