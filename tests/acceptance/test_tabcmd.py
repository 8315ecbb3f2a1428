"""tabcmd (PyPI, unmodified) logs in, publishes, refreshes extracts and deletes against the
server, and each action fires its webhook event."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.receiver import Receiver
from tests.support.server import ADMIN_PASSWORD, ADMIN_USERNAME, ServerProcess
from tests.support.tableau_samples import connection_xml, workbook_xml

REPO = Path(__file__).resolve().parents[2]
TABCMD = REPO / ".tools" / "tabcmd-venv" / "bin" / "tabcmd"
EVENTS = (
    "WorkbookCreated",
    "WorkbookRefreshStarted",
    "WorkbookRefreshSucceeded",
    "WorkbookDeleted",
)


@pytest.fixture(scope="module")
def tabcmd() -> Path:
    if TABCMD.exists():
        return TABCMD
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("tabcmd is not installed under CI: scripts/test must install it")
    pytest.skip("tabcmd not installed (scripts/test installs it into .tools/tabcmd-venv)")


@pytest.fixture(scope="module")
def receiver(server: ServerProcess, admin_token: tuple[str, str, str]) -> Iterator[Receiver]:
    running = Receiver().start()
    token, site_id, _ = admin_token
    for event in EVENTS:
        body = (
            f'<tsRequest><webhook name="tabcmd-{event}" event="{event}"><webhook-destination>'
            f'<webhook-destination-http method="POST" url="{running.url}"/></webhook-destination>'
            "</webhook></tsRequest>"
        )
        httpx.post(
            f"{server.api()}/sites/{site_id}/webhooks",
            content=body,
            headers={"X-Tableau-Auth": token},
        ).raise_for_status()
    yield running
    running.stop()


def _run(tabcmd: Path, home: Path, *args: str) -> str:
    result = subprocess.run(
        [str(tabcmd), *args],
        cwd=home,
        env={**os.environ, "HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def test_tabcmd_login_publish_refresh_delete(
    server: ServerProcess, tabcmd: Path, receiver: Receiver, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    workbook = tmp_path / "Regional.twb"
    workbook.write_bytes(
        workbook_xml(connection_xml("sqlserver", server="db.example.com", dbname="sales"))
    )
    # tabcmd keeps the session in ~/tableau_auth.json; with --password-file later commands
    # sign in again by themselves (it never stores a password typed with -p).
    password_file = home / "password.txt"
    password_file.write_text(ADMIN_PASSWORD)
    _run(
        tabcmd, home, "login", "-s", server.base_url, "-u", ADMIN_USERNAME,
        "--password-file", str(password_file),
    )  # fmt: skip
    assert (home / "tableau_auth.json").exists()
    published = _run(tabcmd, home, "publish", str(workbook), "-n", "Regional")
    assert "successfully published" in published
    _run(tabcmd, home, "refreshextracts", "--workbook", "Regional", "--synchronous")
    _run(tabcmd, home, "delete", "--workbook", "Regional")
    _run(tabcmd, home, "logout")

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(receiver.requests) < len(EVENTS):
        time.sleep(0.05)
    payloads = [json.loads(r.body) for r in receiver.requests]
    assert [p["event_type"] for p in payloads] == list(EVENTS)
    assert {p["resource_name"] for p in payloads} == {"Regional"}
    assert len({p["resource_luid"] for p in payloads}) == 1
