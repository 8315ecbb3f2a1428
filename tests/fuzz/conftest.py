"""One real server for the whole fuzzing battery, a signed-in admin, and a liveness check.

The server runs on SQLite without the dispatcher and without ``--dev``: fuzzed URLs must
never make it connect anywhere (no deliveries run, and the SSRF guard refuses loopback and
private addresses), and the battery is about what the server does with what it is sent.
After every test (a batch of generated cases) the server must still answer its health check.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.conftest import database_url_for
from tests.fuzz.properties import Referee
from tests.support.rest import Rest
from tests.support.server import ServerProcess

#: A generous bound for "still answering": liveness, not speed.
HEALTH_TIMEOUT_S = 10.0
#: Requests the battery sent, for the closing summary (the issue's "cases run").
_SENT = pytest.StashKey[int]()


@dataclass
class Target:
    """The fuzzed server and what a signed-in administrator needs to reach its routes."""

    server: ServerProcess
    referee: Referee
    http: httpx.Client
    token: str
    site_id: str
    user_id: str

    @property
    def api(self) -> str:
        return f"/api/3.28/sites/{self.site_id}"

    def json(self, method: str, path: str, body: object = None) -> dict[str, object]:
        response = self.http.request(
            method,
            path,
            json=body,
            headers={"X-Tableau-Auth": self.token, "Accept": "application/json"},
        )
        assert response.status_code < 300, response.text
        found: dict[str, object] = response.json()
        return found


@pytest.fixture(scope="package")
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    workdir = tmp_path_factory.mktemp("fuzz")
    server = ServerProcess(
        database_url_for("sqlite", request, workdir),
        workdir,
        # Every chunked-upload case opens a session; the per-user cap is not what is fuzzed.
        extra_env={"TABHOOKS_MAX_UPLOAD_SESSIONS_PER_USER": "100000"},
        args=("--no-dispatcher",),
    ).start()
    admin = Rest.sign_in(server)
    http = httpx.Client(base_url=server.base_url, timeout=30, follow_redirects=False)
    try:
        referee = Referee(server)
        yield Target(server, referee, http, admin.token, admin.site_id, admin.user_id)
        request.config.stash[_SENT] = referee.requests
    finally:
        http.close()
        admin.close()
        server.stop()


@pytest.fixture(autouse=True)
def _still_answering(target: Target) -> Iterator[None]:
    """After each batch the server answers its health check (it neither hung nor died)."""
    yield
    try:
        health = target.http.get("/tabhooks/v1/health", timeout=HEALTH_TIMEOUT_S)
    except httpx.TransportError as exc:
        pytest.fail(f"the server stopped answering after this batch: {exc!r}")
    assert health.status_code == 200, health.text


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    sent = config.stash.get(_SENT, 0)
    if sent:
        terminalreporter.write_line(f"fuzzing: {sent} generated requests judged")
