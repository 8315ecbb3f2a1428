"""Fixtures shared by every tier: clean environment, backends, real servers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import tableauserverclient as TSC

from tests.support import databases
from tests.support.rest import Rest
from tests.support.server import (
    ADMIN_PASSWORD,
    ADMIN_PAT_NAME,
    ADMIN_PAT_SECRET,
    ADMIN_USERNAME,
    ServerProcess,
)

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(autouse=True, scope="session")
def _clean_environ() -> Iterator[None]:
    """No TABHOOKS_* from the developer's shell leaks into a test."""
    saved = {
        k: os.environ.pop(k)
        for k in list(os.environ)
        if k.startswith("TABHOOKS_") and k != databases.POSTGRES_ENV
    }
    yield
    os.environ.update(saved)


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    url = os.environ.get(databases.POSTGRES_ENV)
    if url:
        return url
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(
            f"{databases.POSTGRES_ENV} is not set under CI: scripts/test must start PostgreSQL"
        )
    pytest.skip(f"PostgreSQL not available ({databases.POSTGRES_ENV} unset); run scripts/test")


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def database_url_for(backend: str, request: pytest.FixtureRequest, directory: Path) -> str:
    if backend == "postgres":
        return databases.new_postgres_url(request.getfixturevalue("postgres_admin_url"))
    return databases.new_sqlite_url(directory)


@pytest.fixture(scope="module")
def server(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One real server per test module and backend, in --dev mode."""
    workdir = tmp_path_factory.mktemp("server")
    running = ServerProcess(database_url_for(backend, request, workdir), workdir).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def admin_token(server: ServerProcess) -> tuple[str, str, str]:
    """(token, site id, user id) of the bootstrap admin on the default site."""
    response = httpx.post(
        f"{server.api()}/auth/signin",
        json={
            "credentials": {
                "name": ADMIN_USERNAME,
                "password": ADMIN_PASSWORD,
                "site": {"contentUrl": ""},
            }
        },
        headers={"Accept": "application/json"},
    )
    response.raise_for_status()
    creds = response.json()["credentials"]
    return creds["token"], creds["site"]["id"], creds["user"]["id"]


@pytest.fixture()
def tsc(server: ServerProcess) -> Iterator[TSC.Server]:
    """Unmodified TSC signed in as the bootstrap admin on the default site."""
    tsc_server = TSC.Server(server.base_url, use_server_version=True)
    tsc_server.auth.sign_in(TSC.TableauAuth(ADMIN_USERNAME, ADMIN_PASSWORD, site_id=""))
    yield tsc_server
    tsc_server.auth.sign_out()


@pytest.fixture(scope="module")
def admin(server: ServerProcess) -> Iterator[Rest]:
    """The bootstrap admin on the default site, over the REST API (one session per module)."""
    signed_in = Rest.sign_in(server)
    yield signed_in
    signed_in.close()


@pytest.fixture()
def pat_tsc(server: ServerProcess) -> Iterator[TSC.Server]:
    """TSC signed in as the samples sign in: a personal access token, server version."""
    tsc_server = TSC.Server(server.base_url, use_server_version=True)
    tsc_server.auth.sign_in(TSC.PersonalAccessTokenAuth(ADMIN_PAT_NAME, ADMIN_PAT_SECRET, ""))
    yield tsc_server
    tsc_server.auth.sign_out()
