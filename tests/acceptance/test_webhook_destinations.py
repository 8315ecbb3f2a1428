"""Without --dev, destinations must be https and public, as on Tableau; switches relax it."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import database_url_for
from tests.support.server import ADMIN_PASSWORD, ADMIN_USERNAME, ServerProcess

NS = {"t": "http://tableau.com/api"}


def _start(
    request: pytest.FixtureRequest, backend: str, tmp_path_factory, **env: str
) -> ServerProcess:
    workdir = tmp_path_factory.mktemp("strict")
    return ServerProcess(
        database_url_for(backend, request, workdir), workdir, extra_env=env, args=()
    ).start()


@pytest.fixture(scope="module")
def strict(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory
) -> Iterator[ServerProcess]:
    running = _start(request, backend, tmp_path_factory)
    yield running
    running.stop()


def _sign_in(server: ServerProcess) -> tuple[str, str]:
    response = httpx.post(
        f"{server.api()}/auth/signin",
        content=f'<tsRequest><credentials name="{ADMIN_USERNAME}" password="{ADMIN_PASSWORD}"><site contentUrl=""/></credentials></tsRequest>',
    )
    credentials = ET.fromstring(response.content).find("t:credentials", NS)
    return credentials.get("token"), credentials.find("t:site", NS).get("id")


def _create(server: ServerProcess, url: str) -> httpx.Response:
    token, site_id = _sign_in(server)
    body = (
        f'<tsRequest><webhook name="dest-{abs(hash(url))}" event="WorkbookCreated"><webhook-destination>'
        f'<webhook-destination-http method="POST" url="{url}"/></webhook-destination></webhook></tsRequest>'
    )
    return httpx.post(
        f"{server.api()}/sites/{site_id}/webhooks", content=body, headers={"X-Tableau-Auth": token}
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/x",
        "https://127.0.0.1/x",
        "https://localhost/x",
        "https://10.0.0.7/x",
        "https://192.168.1.1/x",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/x",
        "https://[::ffff:127.0.0.1]/x",
        "https://100.64.0.1/x",
        "https://user:pass@hooks.example.com/x",
    ],
)
def test_strict_server_refuses_internal_or_plain_http(strict: ServerProcess, url: str) -> None:
    response = _create(strict, url)
    assert response.status_code == 400, response.text
    error = ET.fromstring(response.content).find("t:error", NS)
    assert error.get("code") == "400141"
    assert (
        url.split("/")[2].split("@")[-1].strip("[]") in error.find("t:detail", NS).text
        or "http" in error.find("t:detail", NS).text
    )


def test_strict_server_accepts_public_https(strict: ServerProcess) -> None:
    assert _create(strict, "https://hooks.example.com/tableau").status_code == 201


def test_allow_switches_relax_the_rules(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory
) -> None:
    relaxed = _start(
        request,
        backend,
        tmp_path_factory,
        TABHOOKS_ALLOW_HTTP_DESTINATIONS="true",
        TABHOOKS_ALLOWED_DESTINATION_CIDRS="10.0.0.0/8",
    )
    try:
        assert _create(relaxed, "http://hooks.example.com/plain").status_code == 201
        assert _create(relaxed, "https://10.1.2.3/allowed").status_code == 201
        assert _create(relaxed, "https://127.0.0.1/still-blocked").status_code == 400
    finally:
        relaxed.stop()
