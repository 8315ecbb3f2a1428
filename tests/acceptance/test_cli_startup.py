"""Start-up errors a user causes end ``tabhooks serve`` (and ``worker``, and admin commands)
with one line saying what to change, and exit 1 — not a traceback (issue 16). A started
server prints where its dashboard, inspector, API docs and REST API are.

Each case runs the real command as a subprocess in a fresh folder; the busy port is a socket
this test binds itself.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.server import ServerProcess

RUN_TIMEOUT_S = 60


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TABHOOKS_")}
    env.update(PYTHONUNBUFFERED="1", NO_COLOR="1", COLUMNS="80", **extra)
    return env


def _run(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tabhooks", *args],
        cwd=cwd,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The command failed with exit 1 and printed exactly one line, an ``Error:``."""
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout == "", result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ") and "Traceback" not in result.stderr
    return lines[0]


@pytest.fixture
def busy_port() -> Iterator[int]:
    held = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    held.bind(("127.0.0.1", 0))
    held.listen(1)
    yield held.getsockname()[1]
    held.close()


def test_a_busy_port_is_one_line_and_exit_1(tmp_path: Path, busy_port: int) -> None:
    line = _one_error_line(_run(tmp_path, "serve", "--port", str(busy_port)))
    assert f"port {busy_port} on 127.0.0.1 is in use" in line and "--port" in line
    assert list(tmp_path.iterdir()) == []  # nothing created before the port was checked
    line = _one_error_line(_run(tmp_path, "relay", "serve", "--port", str(busy_port)))
    assert "is in use" in line


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        ((), {"TABHOOKS_PORT": "eighty"}, "TABHOOKS_PORT: Input should be a valid integer"),
        (("--port", "70000"), {}, "--port: Input should be less than or equal to 65535"),
        (("--port", "0"), {"TABHOOKS_MAX_REQUEST_BYTES": "-5"}, "TABHOOKS_MAX_REQUEST_BYTES"),
        (("--port", "0"), {"TABHOOKS_DATABASE_URL": "mysql:/x"}, "TABHOOKS_DATABASE_URL"),
        (("--port", "0"), {"TABHOOKS_DATABASE_URL": "not a url"}, "TABHOOKS_DATABASE_URL"),
        (("--port", "0", "--host", "192.0.2.77"), {}, "not an address of this machine"),
    ],
    ids=["port-not-a-number", "port-too-big", "bad-limit", "other-database", "no-url", "host"],
)
def test_bad_settings_are_one_line_and_exit_1(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], expected: str
) -> None:
    line = _one_error_line(_run(tmp_path, "serve", *args, **env))
    assert expected in line, line


def test_a_database_folder_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    url = f"sqlite:///{tmp_path}/a-file/tabhooks.db"
    line = _one_error_line(_run(tmp_path, "serve", "--port", "0", TABHOOKS_DATABASE_URL=url))
    assert "a-file" in line and "TABHOOKS_DATABASE_URL" in line
    key = _run(tmp_path, "admin", "generate-key").stdout.strip()
    with_key = _run(
        tmp_path,
        "serve",
        "--port",
        "0",
        TABHOOKS_DATABASE_URL=url,
        TABHOOKS_SECRET_KEY=key,
    )
    assert "TABHOOKS_DATABASE_URL" in _one_error_line(with_key)


def test_an_unreachable_database_server_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # nothing listens there once closed
    key = _run(tmp_path, "admin", "generate-key").stdout.strip()
    url = f"postgresql://someone:pa55word@127.0.0.1:{port}/tabhooks"
    line = _one_error_line(
        _run(tmp_path, "serve", "--port", "0", TABHOOKS_DATABASE_URL=url, TABHOOKS_SECRET_KEY=key)
    )
    assert "cannot open the database" in line and "pa55word" not in line


def test_worker_and_admin_commands_say_bad_settings_in_one_line(tmp_path: Path) -> None:
    for command in (("worker",), ("admin", "list-pats")):
        line = _one_error_line(_run(tmp_path, *command, TABHOOKS_PORT="eighty"))
        assert "TABHOOKS_PORT" in line


def test_serve_prints_where_everything_is(server: ServerProcess) -> None:
    printed = "".join(server.output)
    base = server.base_url
    assert f"tabhooks listening on {base}\n" in printed
    for label, path in (
        ("dashboard", "/ui/"),
        ("inspector", "/ui/bins"),
        ("API docs", "/tabhooks/docs"),
        ("REST API", "/api/3.28"),
    ):
        line = next(x for x in printed.splitlines() if x.strip().startswith(label))
        url = line.split()[len(label.split())]
        assert url == base + path, line
        # Each answers: a page, or the sign-in page it redirects to; the REST base is where
        # a client's calls start (serverinfo needs no sign-in).
        probe = url + "/serverinfo" if label == "REST API" else url
        answer = httpx.get(probe, follow_redirects=True, timeout=10)
        assert answer.status_code == 200, (probe, answer.status_code)
