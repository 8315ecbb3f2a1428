"""Relay enrichment over REST, end to end: a second real tabhooks server stands in for Tableau
(it speaks Tableau's REST API), owns the content, and fires the webhook that feeds the route;
the relay server signs in there — with a ``tabhooks login`` profile, or a server URL and PAT —
and templates get the project, owner and web URL. Every way the lookup can fail still
delivers the message, with ``enrichment.error`` saying why."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import tableauserverclient as TSC

from tabhooks.tableau.profiles import FILE_NAME
from tests.acceptance.test_delivery import FAST_RETRIES, Client
from tests.acceptance.test_relay import create_route, wait_for
from tests.conftest import database_url_for
from tests.support import databases
from tests.support.receiver import Receiver, Reply
from tests.support.rest import Rest
from tests.support.server import (
    ADMIN_PASSWORD,
    ADMIN_PAT_NAME,
    ADMIN_PAT_SECRET,
    ADMIN_USERNAME,
    ServerProcess,
)
from tests.support.tableau_samples import connection_xml, datasource_xml, workbook_xml

PROFILE = "stand-in"
#: The variable that holds the profile's password, in the CLI's and the relay server's env.
PASSWORD_ENV = "STAND_IN_PASSWORD"
ENRICH_TIMEOUT_S = 1.5
ENRICHMENT_JSON = "{{ enrichment | tojson }}"


@pytest.fixture(scope="module")
def tableau(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The second server: where the content lives and the events come from.

    One per back end run (``backend`` is asked for that reason alone): a module's tests run
    for both back ends in one pytest-xdist worker, and webhooks made on a shared stand-in
    by the first run would clash with the second's.
    """
    del backend
    workdir = tmp_path_factory.mktemp("stand-in")
    running = ServerProcess(databases.new_sqlite_url(workdir), workdir).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def config_dir(tableau: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A profile saved by the real ``tabhooks login``, in the relay server's config dir."""
    directory = tmp_path_factory.mktemp("config")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TABHOOKS_")}
    env.update(TABHOOKS_CONFIG_DIR=str(directory), **{PASSWORD_ENV: ADMIN_PASSWORD})
    subprocess.run(
        [sys.executable, "-m", "tabhooks", "login", "--server", tableau.base_url,
         "--username", ADMIN_USERNAME, "--password-env", PASSWORD_ENV, "--profile", PROFILE],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return directory


@pytest.fixture(scope="module")
def relay_server(
    backend: str,
    config_dir: Path,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("relay")
    env = {
        **FAST_RETRIES,
        "TABHOOKS_CONFIG_DIR": str(config_dir),
        "TABHOOKS_RELAY_ENRICH_TIMEOUT_S": str(ENRICH_TIMEOUT_S),
        PASSWORD_ENV: ADMIN_PASSWORD,
    }
    running = ServerProcess(database_url_for(backend, request, workdir), workdir, env).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(relay_server: ServerProcess) -> Client:
    return Client(relay_server)


@pytest.fixture(scope="module")
def stand_in(tableau: ServerProcess) -> Client:
    return Client(tableau)


@pytest.fixture(scope="module")
def datasource(tableau: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """``Sales Extract`` in project ``Finance`` on the stand-in, published with unmodified TSC."""
    tsc = TSC.Server(tableau.base_url, use_server_version=True)
    tsc.auth.sign_in(TSC.TableauAuth(ADMIN_USERNAME, ADMIN_PASSWORD, site_id=""))
    try:
        project = tsc.projects.create(TSC.ProjectItem("Finance"))
        path = tmp_path_factory.mktemp("files") / "Sales Extract.tds"
        path.write_bytes(datasource_xml(connection_xml("postgres", server="db.example.com")))
        item = TSC.DatasourceItem(project.id, name="Sales Extract")
        published = tsc.datasources.publish(item, str(path), TSC.Server.PublishMode.CreateNew)
        return tsc.datasources.get_by_id(published.id)
    finally:
        tsc.auth.sign_out()


@pytest.fixture(scope="module")
def view(tableau: ServerProcess, datasource: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Sheet ``Profit`` of workbook ``Ops Book``, in ``Finance`` beside the data source."""
    tsc = TSC.Server(tableau.base_url, use_server_version=True)
    tsc.auth.sign_in(TSC.TableauAuth(ADMIN_USERNAME, ADMIN_PASSWORD, site_id=""))
    try:
        path = tmp_path_factory.mktemp("books") / "Ops Book.twb"
        path.write_bytes(workbook_xml(connection_xml("postgres", server="db.example.com")))
        item = TSC.WorkbookItem(datasource.project_id, name="Ops Book")
        book = tsc.workbooks.publish(item, str(path), TSC.Server.PublishMode.CreateNew)
        tsc.workbooks.populate_views(book)
        return book, next(v for v in book.views if v.name == "Profit")
    finally:
        tsc.auth.sign_out()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


def _payload(stand_in: Client, luid: str, name: str = "Sales Extract") -> dict[str, str]:
    return {
        "resource": "EXTRACTS",
        "event_type": "DatasourceRefreshFailed",
        "resource_name": name,
        "site_luid": stand_in.site_id,
        "resource_luid": luid,
        "created_at": "2024-05-01T10:00:00Z",
    }


def _relayed(route: dict[str, Any], payload: dict[str, str], receiver: Receiver) -> Any:
    """Post to the route and return what its http target received, as JSON."""
    before = len(receiver.requests)
    response = httpx.post(route["inbound_url"], json=payload, timeout=30)
    assert response.status_code == 202 and response.json()["queued"] == 1, response.text
    return json.loads(wait_for(receiver, before + 1)[before].body)


def _server_route(
    client: Client, receiver: Receiver, name: str, server: str, secret: str = ADMIN_PAT_SECRET
) -> dict[str, Any]:
    enrich_with = {"server": server, "pat_name": ADMIN_PAT_NAME, "pat_secret": secret}
    return create_route(
        client,
        {
            "name": name,
            "enrich_with": enrich_with,
            "targets": [{"type": "http", "url": receiver.url, "template": ENRICHMENT_JSON}],
        },
    )


def test_refresh_failure_on_the_stand_in_reaches_slack_enriched_through_a_profile(
    client: Client, stand_in: Client, datasource: Any, receiver: Receiver
) -> None:
    route = create_route(
        client,
        {
            "name": "refresh failures, enriched",
            "events": ["DatasourceRefreshFailed"],
            "enrich_with": {"profile": PROFILE},
            "targets": [
                {
                    "type": "slack",
                    "url": receiver.url,
                    "template": "{{ event.title }}: {{ event.resource_name }} in "
                    "{{ enrichment.project }} (owner {{ enrichment.owner }})",
                }
            ],
        },
    )
    assert route["enrich"] is True
    assert route["enrich_with"] == {
        "source": "profile", "profile": PROFILE, "server": None, "site": None, "pat_name": None,
    }  # fmt: skip
    # The stand-in's own webhook feeds the route, exactly as Tableau's would.
    stand_in.create_webhook("to-relay", route["inbound_url"], event="DatasourceRefreshFailed")
    fired = httpx.post(
        f"{stand_in.ops}/events",
        json={"event": "DatasourceRefreshFailed", "resource_luid": datasource.id,
              "resource_name": "Sales Extract"},
        headers=stand_in.headers,
    )  # fmt: skip
    assert fired.status_code == 201, fired.text

    slack = json.loads(wait_for(receiver, 1, timeout_s=20)[0].body)
    assert slack["text"] == "Datasource refresh failed: Sales Extract in Finance (owner admin)"
    assert datasource.webpage_url.startswith(stand_in.server.base_url)
    assert slack["blocks"][-1] == {
        "type": "section",
        "text": {"type": "mrkdwn", "text": f"<{datasource.webpage_url}|Open>"},
    }


def test_server_and_pat_enrichment_exposes_project_owner_and_web_url(
    client: Client, stand_in: Client, tableau: ServerProcess, datasource: Any, receiver: Receiver
) -> None:
    route = _server_route(client, receiver, "enriched by PAT", tableau.base_url)
    shown = httpx.get(f"{client.server.base_url}/tabhooks/v1/relays/{route['id']}",
                      headers=client.headers)  # fmt: skip
    assert shown.json()["enrich_with"]["source"] == "server"
    assert shown.json()["enrich_with"]["pat_name"] == ADMIN_PAT_NAME
    assert ADMIN_PAT_SECRET not in shown.text

    enrichment = _relayed(route, _payload(stand_in, datasource.id), receiver)
    assert enrichment == {
        "kind": "datasource",
        "name": "Sales Extract",
        "project": "Finance",
        "project_id": datasource.project_id,
        "owner": ADMIN_USERNAME,
        "owner_id": datasource.owner_id,
        "web_url": datasource.webpage_url,
        "content_url": datasource.content_url,
        "description": "",
        "source": tableau.base_url,
    }
    # A second message reuses the session: still enriched.
    assert _relayed(route, _payload(stand_in, datasource.id), receiver)["project"] == "Finance"


def test_a_view_is_enriched_with_its_workbooks_project_and_owner_and_its_own_url(
    client: Client, stand_in: Client, tableau: ServerProcess, view: Any, receiver: Receiver
) -> None:
    book, sheet = view
    route = _server_route(client, receiver, "enriched view", tableau.base_url)
    payload = {**_payload(stand_in, sheet.id, "Profit"), "resource": "VIEW",
               "event_type": "ViewDeleted"}  # fmt: skip
    enrichment = _relayed(route, payload, receiver)
    path = sheet.content_url.replace("/sheets/", "/")
    assert enrichment == {
        "kind": "view",
        "name": "Profit",
        "workbook": "Ops Book",
        "project": "Finance",
        "project_id": book.project_id,
        "owner": ADMIN_USERNAME,
        "owner_id": book.owner_id,
        "web_url": f"{tableau.base_url}/#/views/{path}",
        "content_url": sheet.content_url,
        "description": "",
        "source": tableau.base_url,
    }


def test_unknown_resource_and_refused_sign_in_still_deliver_with_the_error(
    client: Client, stand_in: Client, tableau: ServerProcess, datasource: Any, receiver: Receiver
) -> None:
    route = _server_route(client, receiver, "enrich 404", tableau.base_url)
    missing = _relayed(route, _payload(stand_in, "0f1e2d3c-0000-0000-0000-000000000000"), receiver)
    assert "was not found" in missing["error"] and "(404)" in missing["error"]
    assert "project" not in missing

    refused = _server_route(client, receiver, "enrich 401", tableau.base_url, secret="wrong")
    answer = _relayed(refused, _payload(stand_in, datasource.id), receiver)
    assert answer == {
        "error": f"sign-in to {tableau.base_url} was refused (401)",
        "source": tableau.base_url,
    }


def test_unreachable_and_slow_sources_cost_at_most_the_budget(
    client: Client, stand_in: Client, datasource: Any, receiver: Receiver
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    dead = _server_route(client, receiver, "enrich dead", f"http://127.0.0.1:{closed_port}")
    answer = _relayed(dead, _payload(stand_in, datasource.id), receiver)
    assert answer["error"].startswith(f"http://127.0.0.1:{closed_port} is unreachable")

    slow = Receiver(plan=[Reply(delay_s=ENRICH_TIMEOUT_S * 3)]).start()
    try:
        server = slow.url.removesuffix("/hook")
        route = _server_route(client, receiver, "enrich slow", server)
        started = time.monotonic()
        answer = _relayed(route, _payload(stand_in, datasource.id), receiver)
        assert time.monotonic() - started < ENRICH_TIMEOUT_S * 3
        assert answer["error"] == f"{server} did not answer within {ENRICH_TIMEOUT_S:g} s"
    finally:
        slow.stop()


@pytest.mark.parametrize(
    ("enrich_with", "detail"),
    [
        ({"profile": "nope"}, "profile 'nope' is not usable here"),
        ({"profile": PROFILE, "server": "http://127.0.0.1:9"}, "not both"),
        ({"server": "http://127.0.0.1:9", "pat_name": "x"}, "pat_name and pat_secret"),
        ({"server": "ftp://example.com", "pat_name": "x", "pat_secret": "y"}, "not allowed"),
    ],
)
def test_a_bad_enrichment_source_is_refused_when_saved(
    client: Client, enrich_with: dict[str, str], detail: str
) -> None:
    body = {
        "name": "bad source",
        "enrich_with": enrich_with,
        "targets": [{"type": "http", "url": "http://127.0.0.1:9/x"}],
    }
    response = httpx.post(
        f"{client.server.base_url}/tabhooks/v1/relays", json=body, headers=client.headers
    )
    assert response.status_code == 400, response.text
    assert detail in response.json()["error"]["detail"]


def test_cli_adds_routes_enriched_by_profile_and_by_pat_from_a_variable(
    client: Client,
    stand_in: Client,
    tableau: ServerProcess,
    datasource: Any,
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TABHOOKS_")}
    env.update(
        TABHOOKS_CONFIG_DIR=str(tmp_path / "cli"),  # the CLI's own login, not the server's
        ADMIN_PW=ADMIN_PASSWORD,
        STAND_IN_PAT=ADMIN_PAT_SECRET,
        COLUMNS="200",
    )
    subprocess.run(
        [sys.executable, "-m", "tabhooks", "login", "--server", client.server.base_url,
         "--username", ADMIN_USERNAME, "--password-env", "ADMIN_PW"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    common = ["-q", "--http", receiver.url, "--template", ENRICHMENT_JSON]
    sources = {
        "cli by profile": ["--enrich-profile", PROFILE],
        "cli by pat": ["--enrich-server", tableau.base_url, "--enrich-pat-name", ADMIN_PAT_NAME,
                       "--enrich-pat-secret-env", "STAND_IN_PAT"],
    }  # fmt: skip
    for name, options in sources.items():
        added = subprocess.run(
            [sys.executable, "-m", "tabhooks", "relay", "add", name, *common, *options],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        inbound_url = added.stdout.strip()
        route = {"id": inbound_url.rsplit("/", 1)[1], "inbound_url": inbound_url}
        found = _relayed(route, _payload(stand_in, datasource.id), receiver)
        assert found.get("owner") == "admin", found
    unset = subprocess.run(
        [sys.executable, "-m", "tabhooks", "relay", "add", "cli no secret", *common,
         "--enrich-server", tableau.base_url, "--enrich-pat-name", ADMIN_PAT_NAME,
         "--enrich-pat-secret-env", "UNSET_VARIABLE"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert unset.returncode == 2 and "--enrich-pat-secret-env" in unset.stderr


# ---------------------------------------------------------------- profiles are the operator's

TENANT_ADMIN, TENANT_PASSWORD = "tenant-admin", "tenant-password-1"


@pytest.fixture(scope="module")
def tenant(relay_server: ServerProcess) -> Iterator[tuple[Rest, Rest]]:
    """Site ``tenant-b`` of the relay server: (the server admin there, its own site admin)."""
    operator = Rest.sign_in(relay_server)
    created = httpx.post(
        f"{relay_server.api()}/sites",
        content='<tsRequest><site name="Tenant B" contentUrl="tenant-b"/></tsRequest>',
        headers={"X-Tableau-Auth": operator.token},
    )
    assert created.status_code == 201, created.text
    operator.close()
    on_b = Rest.sign_in(relay_server, site="tenant-b")
    on_b.add_user(TENANT_ADMIN, "SiteAdministratorCreator", TENANT_PASSWORD)
    site_admin = Rest.sign_in(relay_server, TENANT_ADMIN, TENANT_PASSWORD, site="tenant-b")
    yield on_b, site_admin
    on_b.close()
    site_admin.close()


def _relays_call(
    who: Rest, method: str, path: str = "", body: dict[str, Any] | None = None
) -> httpx.Response:
    return who.http.request(
        method,
        f"{who.server.base_url}/tabhooks/v1/relays{path}",
        json=body,
        headers={"X-Tableau-Auth": who.token, "Accept": "application/json"},
    )


def _profile_route(name: str, profile: str, url: str = "http://127.0.0.1:9/x") -> dict[str, Any]:
    return {
        "name": name,
        "enrich_with": {"profile": profile},
        "targets": [{"type": "http", "url": url, "template": ENRICHMENT_JSON}],
    }


@pytest.mark.parametrize("profile", [PROFILE, "nope"])
def test_a_site_admin_cannot_enrich_with_the_operators_profile(
    tenant: tuple[Rest, Rest], config_dir: Path, profile: str
) -> None:
    _, site_admin = tenant
    response = _relays_call(site_admin, "POST", body=_profile_route(f"borrow {profile}", profile))
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "403000"
    detail = response.json()["error"]["detail"]
    # The same answer whether the profile exists or not, and nothing about where they live.
    assert detail == (
        f"Only a server administrator may enrich with a server profile ('{profile}'): profiles "
        "sign in as the operator. Enrich with a server URL and a personal access token instead."
    )
    assert str(config_dir) not in response.text
    listed = _relays_call(site_admin, "GET").json()["relays"]
    assert not [r for r in listed if r["name"] == f"borrow {profile}"]


def test_a_site_admin_cannot_change_a_route_the_operator_enriched_with_a_profile(
    tenant: tuple[Rest, Rest], receiver: Receiver
) -> None:
    operator, site_admin = tenant
    created = _relays_call(operator, "POST", body=_profile_route("operator's", PROFILE))
    assert created.status_code == 201, created.text
    route_id = created.json()["id"]
    # A new target or template would hand the site admin what the operator's login can read.
    retarget = {"targets": [{"type": "http", "url": receiver.url, "template": ENRICHMENT_JSON}]}
    for change in ({"name": "mine now"}, retarget, {"enrich_with": {"profile": PROFILE}}):
        refused = _relays_call(site_admin, "PUT", f"/{route_id}", change)
        assert refused.status_code == 403, refused.text
    assert _relays_call(site_admin, "GET", f"/{route_id}").json()["name"] == "operator's"
    # Leaving the profile is allowed, and so is deleting the route.
    local = _relays_call(site_admin, "PUT", f"/{route_id}", {"enrich_with": {}})
    assert local.status_code == 200, local.text
    assert local.json()["enrich_with"]["source"] == "local"
    assert _relays_call(site_admin, "DELETE", f"/{route_id}").status_code == 204


def test_an_unknown_profile_is_named_without_the_servers_paths(
    client: Client, config_dir: Path
) -> None:
    body = _profile_route("unknown profile", "nope")
    response = httpx.post(
        f"{client.server.base_url}/tabhooks/v1/relays", json=body, headers=client.headers
    )
    assert response.status_code == 400, response.text
    detail = response.json()["error"]["detail"]
    assert "profile 'nope' is not usable here" in detail
    assert str(config_dir) not in response.text and FILE_NAME not in response.text


def test_a_profile_route_whose_author_is_not_a_server_admin_is_not_enriched(
    backend: str,
    client: Client,
    stand_in: Client,
    datasource: Any,
    receiver: Receiver,
    relay_server: ServerProcess,
    tenant: tuple[Rest, Rest],
) -> None:
    """A route saved before the rule (or whose author lost the role) keeps relaying, but
    without the operator's profile."""
    if backend != "sqlite":
        pytest.skip("the route's author is rewritten in the SQLite file; the rule is SQL-free")
    _, site_admin = tenant
    route = create_route(client, _profile_route("legacy", PROFILE, receiver.url))
    assert _relayed(route, _payload(stand_in, datasource.id), receiver)["project"] == "Finance"
    database = relay_server.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(database) as db:
        db.execute(
            "UPDATE relay_routes SET created_by = ? WHERE id = ?", (site_admin.user_id, route["id"])
        )
    answer = _relayed(route, _payload(stand_in, datasource.id), receiver)
    assert answer == {
        "error": f"profile '{PROFILE}' is not used: only a route set up by a server "
        "administrator may enrich with a server profile"
    }
