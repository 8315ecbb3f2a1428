"""What the CLI does with input it does not control, and what its exit codes promise.

Anybody who knows a bin's URL can post to it, so ``listen --forward`` must forward only
POSTs, only below the forward URL and without credentials, and ``inbox tail`` and ``listen``
must not let a captured path or payload drive the terminal (issue 13). Following commands
start from "now" (or exactly the N newest requests), exit 130 on Ctrl-C; ``webhooks test``
and ``fire`` exit 1 when nothing or something failed; admin commands never create a store
(issue 16). Everything runs against the real server, real local receivers and the CLI as a
subprocess.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.acceptance.test_cli import Background, Cli, signed_in_cli
from tests.support import databases
from tests.support.receiver import Receiver
from tests.support.server import ADMIN_USERNAME, ServerProcess

#: Screen clearing, an OSC 52 clipboard write, a C1 CSI, a bidi override, and Rich markup.
HOSTILE = "\x1b[2J\x1b]52;c;aGk=\x07\x9b31m\u202egnp.exe[bold red]x[/]"
#: What a terminal would act on if it were printed raw.
RAW_CONTROLS = ("\x1b", "\x07", "\x9b", "\u202e")


@pytest.fixture(scope="module")
def cli(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    return signed_in_cli(server, tmp_path_factory.mktemp("config") / "tabhooks")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


@pytest.fixture
def bin_(cli: Cli) -> Iterator[dict[str, Any]]:
    made: dict[str, Any] = cli.json("inbox", "create", "--name", "cli safety")
    yield made
    cli.run("inbox", "delete", made["id"], "--yes", expect=None)


def raw_post(
    capture_url: str,
    below: str,
    body: bytes = b"{}",
    headers: dict[str, str] | None = None,
    method: str = "POST",
) -> int:
    """Send ``method`` to the bin's URL plus ``below`` exactly as written (no client
    normalises ``..`` away, as httpx would)."""
    parts = urlsplit(capture_url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        conn.request(method, parts.path + below, body=body, headers=headers or {})
        return conn.getresponse().status
    finally:
        conn.close()


def stopped(process: Background) -> int:
    """Ctrl-C the command; its exit code."""
    try:
        return process.interrupt()
    finally:
        if process.process.poll() is None:
            process.process.kill()


def no_raw_controls(text: str) -> None:
    for control in RAW_CONTROLS:
        assert control not in text, f"raw {control!r} printed: {text!r}"


# -- listen --forward: only POSTs, only below the URL, no credentials (issue 13) -------------


def test_listen_forwards_only_posts_below_the_url_without_credentials(
    cli: Cli, receiver: Receiver
) -> None:
    listen = cli.start("listen", "--forward", receiver.url + "/app", "--json", "--interval", "0.2")
    try:
        ready = json.loads(listen.wait_for(r'^\{"type": "ready".*').group(0))
        secrets = {
            "Authorization": "Bearer operator-secret",
            "Cookie": "tabhooks_session=operator",
            "X-Tableau-Auth": "operator-token",
            "Proxy-Authorization": "Basic b3A=",
            "Connection": "X-Hop",
            "X-Hop": "1",
            "webhook-id": "msg_kept",
            "Content-Type": "application/json",
        }
        hostile = [
            "/../../admin/users/1",  # the example
            "/a/../../../admin",
            "/%252e%252e/%252e%252e/admin",  # the bin stores %2e%2e: an app decodes it to ..
            "/%2e%2e/admin",  # decoded by the capturing server to ..
            "/..%5cadmin",  # a backslash
            "/%252fadmin",  # an encoded slash
        ]
        for path in hostile:
            assert raw_post(ready["url"], path, headers=secrets) == 200
        assert raw_post(ready["url"], "/users/1", method="DELETE", headers=secrets) == 200
        assert raw_post(ready["url"], "/sub/./ok?x=1", body=b'{"n": 1}', headers=secrets) == 200

        listen.wait_for(r'"path": "/hook/app/sub/ok"')
        lines = [json.loads(x) for x in listen.out if '"type": "request"' in x]
        assert len(lines) == len(hostile) + 2
        refused = [x for x in lines if x["forwarded_to"] is None]
        assert len(refused) == len(hostile) + 1
        assert all(x["status"] is None and x["error"].startswith("not forwarded:") for x in refused)
        assert any("only POST" in x["error"] for x in refused)

        (arrived,) = receiver.wait_for(1)
        time.sleep(0.5)  # a refused request that was sent anyway would have arrived by now
        assert len(receiver.requests) == 1
        assert arrived.method == "POST" and arrived.path == "/hook/app/sub/ok?x=1"
        assert arrived.body == b'{"n": 1}' and arrived.headers["webhook-id"] == "msg_kept"
        for dropped in ("authorization", "cookie", "x-tableau-auth", "proxy-authorization"):
            assert dropped not in arrived.headers
        assert "x-hop" not in arrived.headers  # named by Connection: hop-by-hop
        assert stopped(listen) == 130
    finally:
        if listen.process.poll() is None:
            listen.process.kill()


# -- escapes in what is printed from a capture (issue 13) ------------------------------------


def _hostile_capture(bin_: dict[str, Any]) -> dict[str, Any]:
    """A request whose path and JSON body carry terminal controls and Rich markup."""
    body = {
        "event_type": HOSTILE,
        "resource": "WORKBOOK",
        "resource_luid": "l",
        "resource_name": HOSTILE,
        "site_luid": "s",
        "created_at": "2026-01-01T00:00:00Z",
        "note": "line one\nline two\x1b[2J",
    }
    below = "/%1b%5b2J%1b%5d52;c;aGk=%07%c2%9b%e2%80%aex"  # ESC [2J ESC ]52;… BEL CSI RLO
    assert raw_post(bin_["url"], below, json.dumps(body).encode()) == 200
    return body


def test_inbox_tail_prints_no_terminal_controls_from_a_capture(
    cli: Cli, bin_: dict[str, Any]
) -> None:
    body = _hostile_capture(bin_)
    assert raw_post(bin_["url"], "/plain", b"raw \x1b[2J text\r\nline2\x07\xc2\x9b") == 200

    human = cli.run("inbox", "tail", bin_["id"], "-n", "2", "--count", "2", "--body")
    no_raw_controls(human.stdout + human.stderr)
    assert "\\x1b[2J\\x1b]52;c;aGk=\\x07\\x9b31m\\u202egnp.exe[bold red]x[/]" in human.stdout
    assert "/\\x1b[2J\\x1b]52;c;aGk=\\x07\\x9b\\u202ex" in human.stdout  # the path
    assert "raw \\x1b[2J text\n" in human.stdout and "line2\\x07\\x9b" in human.stdout

    as_json = cli.run("inbox", "tail", bin_["id"], "-n", "2", "--count", "2", "--json")
    no_raw_controls(as_json.stdout)
    first = json.loads(as_json.stdout.splitlines()[0])
    assert json.loads(first["body"]) == body  # escaped for the terminal, the same JSON value
    assert first["path"] == "/\x1b[2J\x1b]52;c;aGk=\x07\x9b\u202ex"


def test_listen_prints_no_terminal_controls_from_a_capture(
    cli: Cli, bin_: dict[str, Any], receiver: Receiver
) -> None:
    listen = cli.start("listen", "--forward", receiver.url, "--bin", bin_["id"],
                       "--interval", "0.2")  # fmt: skip
    try:
        listen.wait_for(r"Ready! Forwarding")
        _hostile_capture(bin_)
        line = listen.wait_for(r"not forwarded: the path holds control characters").string
        no_raw_controls("".join(listen.out) + "".join(listen.err))
        assert "POST /\\x1b[2J\\x1b]52;c;aGk=\\x07\\x9b\\u202ex" in line
        assert "\\x1b[2J\\x1b]52;c;aGk=\\x07\\x9b31m\\u202egnp.exe[bold red]x[/]" in line
        assert stopped(listen) == 130
    finally:
        if listen.process.poll() is None:
            listen.process.kill()
    assert receiver.requests == []


# -- following starts from now and never replays (issue 16) ----------------------------------


def _fill(bin_: dict[str, Any], count: int, tag: str) -> None:
    for n in range(1, count + 1):
        assert raw_post(bin_["url"], "", json.dumps({"n": f"{tag}{n}"}).encode()) == 200


def _numbers(lines: list[str]) -> list[str]:
    return [json.loads(json.loads(x)["body"])["n"] for x in lines if x.startswith("{")]


def test_listen_on_an_existing_bin_forwards_only_new_requests(
    cli: Cli, bin_: dict[str, Any], receiver: Receiver
) -> None:
    _fill(bin_, 7, "old")
    listen = cli.start("listen", "--forward", receiver.url, "--bin", bin_["id"],
                       "--interval", "0.2")  # fmt: skip
    try:
        listen.wait_for(r"Ready! Forwarding")
        _fill(bin_, 1, "new")
        receiver.wait_for(1)
        listen.wait_for(r"POST /hook .* -> 200")
        _fill(bin_, 2, "later")
        receiver.wait_for(3)
        assert [json.loads(r.body)["n"] for r in receiver.requests] == ["new1", "later1", "later2"]
        assert stopped(listen) == 130
        assert f"bin {bin_['id']} kept" in "".join(listen.err)
    finally:
        if listen.process.poll() is None:
            listen.process.kill()


@pytest.mark.parametrize(("last", "shown"), [(2, ["old4", "old5"]), (0, [])])
def test_inbox_tail_shows_exactly_the_newest_then_only_new_ones_in_order(
    cli: Cli, bin_: dict[str, Any], last: int, shown: list[str]
) -> None:
    _fill(bin_, 5, "old")
    tail = cli.start("inbox", "tail", bin_["id"], "-n", str(last), "--count", str(last + 2),
                     "--json", "--interval", "0.2")  # fmt: skip
    try:
        tail.wait_for("Following", stderr=True)
        _fill(bin_, 2, "new")
        assert tail.process.wait(30) == 0  # --count reached: done, not stopped
        time.sleep(0.2)  # let the pumps drain
        assert _numbers(tail.out) == [*shown, "new1", "new2"]
    finally:
        if tail.process.poll() is None:
            tail.process.kill()


# -- exit codes (issue 16) -------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ("inbox", "tail", "{bin}"),
        ("deliveries", "tail"),
        ("listen", "--forward", "http://127.0.0.1:9/hook", "--bin", "{bin}"),
    ],
)
def test_ctrl_c_exits_130_from_every_following_command(
    cli: Cli, bin_: dict[str, Any], command: tuple[str, ...]
) -> None:
    for _ in range(3):  # was 0 or 130 at random: every time now
        running = cli.start(*(part.format(bin=bin_["id"]) for part in command))
        running.wait_for("Following|Ready!", stderr=command[0] != "listen")
        assert stopped(running) == 130, "".join(running.err)


def test_webhooks_test_exits_1_when_the_destination_does_not_answer_2xx(
    cli: Cli, receiver: Receiver
) -> None:
    hook = cli.json("webhooks", "create", "--name", "cli-test-exit", "--event",
                    "WorkbookCreated", "--url", receiver.url)["id"]  # fmt: skip
    try:
        assert cli.json("webhooks", "test", hook)["status"] == 200
        receiver.status = 502
        failed = cli.run("webhooks", "test", hook, "--json", expect=1)
        assert json.loads(failed.stdout)["status"] == 502  # the JSON still says what came
        assert "answered 502" in cli.run("webhooks", "test", hook, expect=1).stdout
        cli.run("webhooks", "update", hook, "--url", "http://127.0.0.1:9/closed")
        nobody = cli.run("webhooks", "test", hook, "--json", expect=1)
        assert json.loads(nobody.stdout)["status"] != 200
    finally:
        cli.run("webhooks", "delete", hook, "--yes")


def test_fire_exits_1_when_a_delivery_failed(cli: Cli, receiver: Receiver) -> None:
    receiver.status = 500
    hook = cli.json("webhooks", "create", "--name", "cli-fire-exit", "--event",
                    "DatasourceCreated", "--url", receiver.url)["id"]  # fmt: skip
    try:
        failed = cli.run("fire", "DatasourceCreated", "--json", expect=1)
        assert failed.stdout, failed.stderr  # exit 1 for the delivery, not for an error
        (delivery,) = json.loads(failed.stdout)["deliveries"]
        assert delivery["last_status"] == 500 and delivery["status"] in ("pending", "failed")
        receiver.status = 200
        assert cli.json("fire", "DatasourceCreated")["deliveries"][0]["status"] == "succeeded"
    finally:
        cli.run("webhooks", "delete", hook, "--yes")


# -- admin commands never create a store (issue 16) ------------------------------------------


def _admin(cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tabhooks", "admin", "create-pat", ADMIN_USERNAME, "stray"],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_admin_refuses_to_create_a_store_outside_the_project_folder(
    tmp_path: Path, server: ServerProcess
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TABHOOKS_")}

    missing = _admin(tmp_path, env)
    assert missing.returncode == 1, missing.stdout + missing.stderr
    assert not (tmp_path / "tabhooks.db").exists()
    assert "personalAccessTokenSecret" not in missing.stdout
    assert str(tmp_path / "tabhooks.db") in missing.stderr
    assert "TABHOOKS_DATABASE_URL" in missing.stderr and "folder" in missing.stderr

    (tmp_path / "tabhooks.db").touch()  # an empty file is no store either
    empty = _admin(tmp_path, env)
    assert empty.returncode == 1 and "holds no tabhooks store" in empty.stderr
    assert (tmp_path / "tabhooks.db").stat().st_size == 0

    elsewhere = tmp_path / "other.db"
    env["TABHOOKS_DATABASE_URL"] = f"sqlite:///{elsewhere}"
    named = _admin(tmp_path, env)
    assert named.returncode == 1 and str(elsewhere) in named.stderr
    assert not elsewhere.exists()

    if server.database_url.startswith("postgresql"):  # an empty PostgreSQL database is refused
        admin_url = databases.postgres_admin_url()
        assert admin_url is not None
        env["TABHOOKS_DATABASE_URL"] = databases.new_postgres_url(admin_url)
        bare = _admin(tmp_path, env)
        assert bare.returncode == 1 and "holds no tabhooks store" in bare.stderr, bare.stderr

    env["TABHOOKS_DATABASE_URL"] = server.database_url  # the server's store: works
    made = _admin(tmp_path, env)
    assert made.returncode == 0, made.stdout + made.stderr
    assert "personalAccessTokenSecret: " in made.stdout
    signed_in = httpx.post(
        f"{server.api()}/auth/signin",
        json={"credentials": {"personalAccessTokenName": "stray",
                              "personalAccessTokenSecret": made.stdout.split(
                                  "personalAccessTokenSecret: ")[1].split()[0],
                              "site": {"contentUrl": ""}}},
        headers={"Accept": "application/json"},
    )  # fmt: skip
    assert signed_in.status_code == 200
