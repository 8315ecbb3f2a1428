"""The ``tabhooks`` client commands, run as the installed CLI against a real server.

Every test drives ``python -m tabhooks`` in a subprocess (bounded by a timeout) with
``TABHOOKS_CONFIG_DIR`` in a temporary directory and secrets in environment variables, the
way a script or CI job would. Commands that follow (``tail``, ``listen``) run in the
background and are stopped with SIGINT once the expected lines have appeared.
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer

from tabhooks import events
from tabhooks.cli.actions import ACTIONS
from tabhooks.cli.main import app
from tests.support.receiver import Receiver
from tests.support.rest import Rest
from tests.support.server import (
    ADMIN_PASSWORD,
    ADMIN_PAT_NAME,
    ADMIN_PAT_SECRET,
    ADMIN_USERNAME,
    ServerProcess,
)

RUN_TIMEOUT_S = 90
ROOT = Path(__file__).resolve().parents[2]


def flat(text: str) -> str:
    """Click's usage errors as one line: Rich draws them in a wrapped box."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


@dataclass
class Background:
    """A CLI command running in the background; its output lines are collected as they come."""

    process: subprocess.Popen[str]
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for stream, lines in ((self.process.stdout, self.out), (self.process.stderr, self.err)):
            threading.Thread(target=self._pump, args=(stream, lines), daemon=True).start()

    @staticmethod
    def _pump(stream: Any, lines: list[str]) -> None:
        for line in stream:
            lines.append(line)

    def wait_for(
        self, pattern: str, *, stderr: bool = False, timeout_s: float = 30
    ) -> re.Match[str]:
        lines = self.err if stderr else self.out
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in list(lines):
                if match := re.search(pattern, line):
                    return match
            if self.process.poll() is not None and not any(re.search(pattern, x) for x in lines):
                time.sleep(0.2)  # let the pumps drain
                break
            time.sleep(0.05)
        raise AssertionError(
            f"{pattern!r} never appeared.\nstdout: {''.join(self.out)}\nstderr: {''.join(self.err)}"
        )

    def interrupt(self, timeout_s: float = 20) -> int:
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


@dataclass
class Cli:
    env: dict[str, str]
    config_dir: Path

    def run(
        self, *args: str, stdin: str | None = None, expect: int | None = 0
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "tabhooks", *args],
            env=self.env,
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
        )
        if expect is not None:
            assert result.returncode == expect, (
                f"{args}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
            )
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json").stdout)

    def start(self, *args: str) -> Background:
        return Background(
            subprocess.Popen(
                [sys.executable, "-m", "tabhooks", *args],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )

    def profile(self, name: str = "default") -> dict[str, Any]:
        data = json.loads((self.config_dir / "profiles.json").read_text())
        return dict(data["profiles"][name])


def signed_in_cli(server: ServerProcess, config_dir: Path) -> Cli:
    """A CLI whose ``default`` profile is the bootstrap admin, signed in with a password."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TABHOOKS_")}
    env.update(
        TABHOOKS_CONFIG_DIR=str(config_dir),
        ADMIN_PW=ADMIN_PASSWORD,
        PAT_SECRET=ADMIN_PAT_SECRET,
        PYTHONUNBUFFERED="1",
        NO_COLOR="1",
    )
    made = Cli(env, config_dir)
    made.run("login", "--server", server.base_url, "--username", ADMIN_USERNAME,
             "--password-env", "ADMIN_PW")  # fmt: skip
    return made


@pytest.fixture(scope="module")
def cli(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """A CLI whose ``default`` profile is the bootstrap admin, signed in with a password."""
    return signed_in_cli(server, tmp_path_factory.mktemp("config") / "tabhooks")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


# -- login ------------------------------------------------------------------------------------


def test_login_with_password_saves_a_private_profile_without_the_secret(
    cli: Cli, server: ServerProcess
) -> None:
    found = cli.json("login", "--server", server.base_url + "/", "--username", ADMIN_USERNAME,
                     "--password-env", "ADMIN_PW", "--profile", "pw")  # fmt: skip
    assert found["server"] == server.base_url and found["tabhooks"] is True
    assert found["user"] == ADMIN_USERNAME and found["api_version"] == "3.28"
    path = cli.config_dir / "profiles.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(cli.config_dir.stat().st_mode) == 0o700
    assert ADMIN_PASSWORD not in path.read_text()
    saved = cli.profile("pw")
    assert saved["secret_env"] == "ADMIN_PW" and saved["token"] and saved["site_id"]
    assert cli.json("webhooks", "list", "--profile", "pw") is not None


def test_login_with_a_personal_access_token(cli: Cli, server: ServerProcess) -> None:
    found = cli.json("login", "--server", server.base_url, "--pat-name", ADMIN_PAT_NAME,
                     "--pat-secret-env", "PAT_SECRET", "--profile", "pat")  # fmt: skip
    assert found["user"] == ADMIN_USERNAME
    saved = cli.profile("pat")
    assert saved["auth"] == "pat" and saved["pat_name"] == ADMIN_PAT_NAME
    assert ADMIN_PAT_SECRET not in (cli.config_dir / "profiles.json").read_text()
    env_profile = {**cli.env, "TABHOOKS_PROFILE": "pat"}
    listed = subprocess.run(
        [sys.executable, "-m", "tabhooks", "webhooks", "list", "--json"],
        env=env_profile, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=True,
    )  # fmt: skip
    assert isinstance(json.loads(listed.stdout), list)


def test_login_reads_the_password_from_stdin(cli: Cli, server: ServerProcess) -> None:
    cli.run("login", "--server", server.base_url, "--username", ADMIN_USERNAME,
            "--password-stdin", "--profile", "stdin", stdin=ADMIN_PASSWORD + "\n")  # fmt: skip
    assert cli.profile("stdin")["secret_env"] is None


def test_wrong_password_exits_1_with_code_summary_detail_and_hint(
    cli: Cli, server: ServerProcess
) -> None:
    env_bad = {**cli.env, "BAD_PW": "not-the-password"}
    result = subprocess.run(
        [sys.executable, "-m", "tabhooks", "login", "--server", server.base_url,
         "--username", ADMIN_USERNAME, "--password-env", "BAD_PW", "--profile", "bad"],
        env=env_bad, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
    )  # fmt: skip
    assert result.returncode == 1
    assert "Error: 401001 Signin Error" in result.stderr
    assert "Error signing in" in result.stderr
    assert "Hint: Check the user name and password" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert cli.run("webhooks", "list", "--profile", "bad", expect=1).stderr.startswith(
        "Error: no profile named 'bad'"
    )


def test_expired_session_renews_from_the_env_var_or_asks_to_log_in_again(
    cli: Cli, server: ServerProcess
) -> None:
    cli.run("login", "--server", server.base_url, "--username", ADMIN_USERNAME,
            "--password-env", "ADMIN_PW", "--profile", "renew")  # fmt: skip
    path = cli.config_dir / "profiles.json"
    data = json.loads(path.read_text())
    data["profiles"]["renew"]["token"] = "revoked-token"
    path.write_text(json.dumps(data))
    cli.run("webhooks", "list", "--profile", "renew")  # 401002, then a fresh sign-in
    assert cli.profile("renew")["token"] not in ("revoked-token", None)
    data = json.loads(path.read_text())
    data["profiles"]["renew"]["token_expires_at"] = "2000-01-01T00:00:00+00:00"
    path.write_text(json.dumps(data))
    env_without = {k: v for k, v in cli.env.items() if k != "ADMIN_PW"}
    stale = subprocess.run(
        [sys.executable, "-m", "tabhooks", "webhooks", "list", "--profile", "renew"],
        env=env_without, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
    )  # fmt: skip
    assert stale.returncode == 1
    assert "has expired and cannot be renewed ($ADMIN_PW is not set)" in stale.stderr
    assert "Hint: Log in again: tabhooks login --server" in stale.stderr
    cli.run("webhooks", "list", "--profile", "renew")  # with the variable it renews
    cli.run("logout", "--profile", "renew")
    assert cli.profile("renew")["token"] is None
    assert "logged out" in cli.run("webhooks", "list", "--profile", "renew", expect=1).stderr


# -- usage errors -----------------------------------------------------------------------------


def test_unknown_event_exits_2_with_a_suggestion(cli: Cli) -> None:
    made = cli.run("webhooks", "create", "--name", "x", "--event", "WorkbookCreatd",
                   "--url", "https://example.com/hook", expect=2)  # fmt: skip
    assert "'WorkbookCreatd' is not a webhook event" in flat(made.stderr)
    assert "Did you mean WorkbookCreated?" in flat(made.stderr)
    fired = cli.run("fire", "webhook-source-event-datasource-refresh-faild", expect=2)
    assert "Did you mean DatasourceRefreshFailed?" in flat(fired.stderr)


@pytest.mark.parametrize(
    "args",
    [
        ("webhooks", "create", "--name", "x"),  # missing options
        ("webhooks", "delete", "some-webhook"),  # destructive without --yes
        ("inbox", "delete", "bin_x"),
        ("login", "--server", "http://127.0.0.1:9", "--username", "a", "--pat-name", "b"),
        ("login", "--server", "not a url", "--username", "a", "--password-env", "ADMIN_PW"),
        ("deliveries", "list", "--status", "lost"),
        ("deliveries", "recover", "--since", "yesterday-ish"),
        ("listen", "--forward", "ftp://example.com"),
        ("webhooks", "frobnicate"),
    ],
    ids=lambda a: "-".join(a[:2]),
)
def test_usage_errors_exit_2(cli: Cli, args: tuple[str, ...]) -> None:
    result = cli.run(*args, expect=2)
    assert "Usage:" in result.stderr


def test_every_command_has_an_example_in_its_help() -> None:
    def leaves(command: Any, path: str) -> Iterator[tuple[str, Any]]:
        subs = getattr(command, "commands", None)  # a group (Typer vendors its own Click)
        if subs:
            for name, sub in subs.items():
                yield from leaves(sub, f"{path} {name}")
        else:
            yield path, command

    found = dict(leaves(typer.main.get_command(app), "tabhooks"))
    assert {"tabhooks fire", "tabhooks listen", "tabhooks inbox tail", "tabhooks login"} <= set(
        found
    )
    assert [p for p, c in found.items() if "Example:" not in (c.help or "")] == []
    shown = subprocess.run(
        [sys.executable, "-m", "tabhooks", "deliveries", "tail", "--help"],
        capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=True,
    ).stdout  # fmt: skip
    assert "Example: tabhooks deliveries tail" in shown and "TABHOOKS_PROFILE" in shown


def test_fire_knows_an_action_for_every_catalog_event() -> None:
    assert set(ACTIONS) == {e.name for e in events.CATALOG}


def test_events_json_lists_the_catalog_with_stable_keys(cli: Cli) -> None:
    listed = cli.json("events")
    assert [e["name"] for e in listed] == [e.name for e in events.CATALOG]
    assert {tuple(sorted(e)) for e in listed} == {
        ("aliases", "api_name", "name", "resources", "summary")
    }
    created = next(e for e in listed if e["name"] == "WorkbookCreated")
    assert created["api_name"] == "webhook-source-event-workbook-created"
    assert created["resources"] == ["WORKBOOK"]
    assert "webhook-source-event-workbook-created" in cli.run("events").stdout


# -- webhooks ---------------------------------------------------------------------------------


def test_webhooks_full_lifecycle(cli: Cli, receiver: Receiver) -> None:
    made = cli.json("webhooks", "create", "--name", "cli-life",
                    "--event", "webhook-source-event-datasource-created", "--url", receiver.url)  # fmt: skip
    hook = made["id"]
    assert made["event"] == "DatasourceCreated" and made["enabled"] is True
    assert set(made) == {"id", "name", "event", "api_event", "url", "method", "enabled",
                         "status_change_reason", "owner_id", "owner_name", "created_at",
                         "updated_at"}  # fmt: skip
    assert hook in {w["id"] for w in cli.json("webhooks", "list")}
    assert cli.json("webhooks", "get", "cli-life")["id"] == hook
    assert "cli-life" in cli.run("webhooks", "list").stdout

    changed = cli.json("webhooks", "update", hook, "--name", "cli-life-2",
                       "--event", "DatasourceDeleted")  # fmt: skip
    assert (changed["name"], changed["event"], changed["url"]) == (
        "cli-life-2",
        "DatasourceDeleted",
        receiver.url,
    )
    off = cli.json("webhooks", "disable", "cli-life-2", "--reason", "receiver maintenance")
    assert off["enabled"] is False and off["status_change_reason"] == "receiver maintenance"
    on = cli.json("webhooks", "enable", hook)
    assert on["enabled"] is True

    tested = cli.json("webhooks", "test", hook)
    assert tested["status"] == 200 and tested["body"] == "ok"
    assert receiver.wait_for(1)[0].body == b"{}"
    assert "answered 200" in cli.run("webhooks", "test", hook).stdout

    assert cli.json("webhooks", "delete", hook, "--yes") == {"deleted": hook, "name": "cli-life-2"}
    gone = cli.run("webhooks", "get", hook, expect=1)
    assert "404060" in gone.stderr and "Hint: List the site's webhooks" in gone.stderr


def test_webhooks_on_api_3_6_use_the_webhook_source_form(
    cli: Cli, server: ServerProcess, receiver: Receiver
) -> None:
    cli.run("login", "--server", server.base_url, "--username", ADMIN_USERNAME,
            "--password-env", "ADMIN_PW", "--api-version", "3.6", "--profile", "old")  # fmt: skip
    made = cli.json("webhooks", "create", "--name", "cli-old", "--event", "LabelDeleted",
                    "--url", receiver.url, "--profile", "old")  # fmt: skip
    assert made["api_event"] == "webhook-source-event-label-deleted"
    refused = cli.run("webhooks", "disable", made["id"], "--profile", "old", expect=1)
    assert (
        "Updating webhooks needs REST API 3.8 or later; this profile speaks 3.6" in refused.stderr
    )
    cli.run("webhooks", "delete", "cli-old", "--yes", "--profile", "old")


def test_webhook_with_a_refused_destination_shows_the_tableau_error(cli: Cli) -> None:
    refused = cli.run("webhooks", "create", "--name", "cli-ftp", "--event", "WorkbookCreated",
                      "--url", "ftp://example.com/x", expect=1)  # fmt: skip
    assert "400141" in refused.stderr and "Hint:" in refused.stderr


# -- fire, deliveries, inbox ------------------------------------------------------------------


def test_fire_refresh_failure_is_delivered_and_seen_in_an_inbox(cli: Cli) -> None:
    bin_ = cli.json("inbox", "create", "--name", "refresh alerts")
    hook = cli.json("webhooks", "create", "--name", "cli-refresh-failed",
                    "--event", "DatasourceRefreshFailed", "--url", bin_["url"])["id"]  # fmt: skip
    try:
        fired = cli.json("fire", "DatasourceRefreshFailed", "--name", "Nightly Sales")
        assert fired["event"] == "DatasourceRefreshFailed" and fired["complete"] is True
        assert any("the refresh failed: sqlite: file not found" in s for s in fired["steps"]), (
            fired["steps"]
        )
        (delivery,) = fired["deliveries"]
        assert delivery["status"] == "succeeded" and delivery["last_status"] == 200
        assert delivery["webhook_id"] == hook

        tail = cli.run("inbox", "tail", bin_["id"], "--count", "1", "--json")
        request = json.loads(tail.stdout.splitlines()[0])
        assert request["tableau"]["event_type"] == "DatasourceRefreshFailed"
        assert request["tableau"]["resource_luid"] == fired["resource_luid"]
        assert request["tableau"]["resource_name"] == "Nightly Sales"
        human = cli.run("inbox", "tail", bin_["url"], "--count", "1", "--body").stdout
        assert re.search(r"POST /\s+DatasourceRefreshFailed 'Nightly Sales'\s+-> 200", human)
        assert '"event_type": "DatasourceRefreshFailed"' in human
    finally:
        cli.run("webhooks", "delete", hook, "--yes")
        cli.run("inbox", "delete", bin_["id"], "--yes")


def test_fire_without_a_listening_webhook_says_so(cli: Cli) -> None:
    result = cli.run("fire", "UserDeleted")
    assert "No enabled webhook listens for UserDeleted on this site" in result.stdout
    fired = cli.json("fire", "SiteUpdated")
    assert fired["listening_webhooks"] == [] and fired["deliveries"] == []


def test_deliveries_list_show_and_redeliver(cli: Cli, receiver: Receiver) -> None:
    hook = cli.json("webhooks", "create", "--name", "cli-deliveries",
                    "--event", "WorkbookUpdated", "--url", receiver.url)["id"]  # fmt: skip
    try:
        fired = cli.json("fire", "WorkbookUpdated")
        (delivery,) = fired["deliveries"]
        listed = cli.json("deliveries", "list", "--webhook", "cli-deliveries")
        assert [d["id"] for d in listed] == [delivery["id"]]
        assert delivery["id"] in cli.run("deliveries", "list", "--since", "1h").stdout

        shown = cli.json("deliveries", "show", delivery["id"])
        assert shown["payload"]["event_type"] == "WorkbookUpdated"
        assert [a["status_code"] for a in shown["attempt_log"]] == [200]
        assert "payload" in cli.run("deliveries", "show", delivery["id"]).stdout

        again = cli.json("deliveries", "redeliver", delivery["id"])
        assert again["attempts"] == 2 and again["status"] == "succeeded"
        first, second = receiver.wait_for(2)
        assert first.headers["webhook-id"] == second.headers["webhook-id"] == delivery["id"]
        recovered = cli.json("deliveries", "recover", "--since", "10m", "--wait", "0")
        assert set(recovered) == {"since", "queued", "succeeded", "failed", "pending"}

        missing = cli.run("deliveries", "show", "msg_nope", expect=1)
        assert "404" in missing.stderr
    finally:
        cli.run("webhooks", "delete", hook, "--yes")


def test_inbox_create_list_and_delete(cli: Cli) -> None:
    url = cli.run("inbox", "create", "--name", "cli-bin", "-q").stdout.strip()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/inbox/bin_\S+", url)
    bins = cli.json("inbox", "list")
    (made,) = [b for b in bins if b["url"] == url]
    assert made["name"] == "cli-bin" and not made["request_count"]
    assert made["id"] in cli.run("inbox", "list").stdout
    cli.run("inbox", "delete", url, "--yes")
    assert made["id"] not in {b["id"] for b in cli.json("inbox", "list")}
    assert "404" in cli.run("inbox", "tail", made["id"], expect=1).stderr


def test_deliveries_tail_streams_deliveries_as_they_happen(cli: Cli, receiver: Receiver) -> None:
    hook = cli.json("webhooks", "create", "--name", "cli-tail", "--event", "DatasourceCreated",
                    "--url", receiver.url)["id"]  # fmt: skip
    tail = cli.start("deliveries", "tail", "--json", "--event", "DatasourceCreated")
    try:
        tail.wait_for("Following deliveries", stderr=True)
        fired = cli.json("fire", "DatasourceCreated")
        luid = fired["resource_luid"]
        tail.wait_for(rf'"resource_luid": "{luid}".*"status": "succeeded"')
        assert tail.interrupt() == 130  # stopped by Ctrl-C, as a shell reports it
        lines = [json.loads(x) for x in tail.out]
        assert {d["event"] for d in lines} == {"DatasourceCreated"}
        assert lines[-1]["id"] == fired["deliveries"][0]["id"]
    finally:
        if tail.process.poll() is None:
            tail.process.kill()
        cli.run("webhooks", "delete", hook, "--yes")


# -- listen -----------------------------------------------------------------------------------


def test_listen_forwards_every_request_to_a_local_app(cli: Cli, receiver: Receiver) -> None:
    listen = cli.start("listen", "--forward", receiver.url, "--interval", "0.2")
    hook = ""
    try:
        url = listen.wait_for(r"Ready! Forwarding (\S+) -> ").group(1)
        hook = cli.json("webhooks", "create", "--name", "cli-listen", "--event",
                        "WorkbookCreated", "--url", url)["id"]  # fmt: skip
        fired = cli.json("fire", "WorkbookCreated", "--name", "Listened")
        listen.wait_for(r"\d\d:\d\d:\d\d  POST /hook  WorkbookCreated  -> 200")
        (relayed,) = receiver.wait_for(1)
        assert relayed.method == "POST" and relayed.path == "/hook"
        assert json.loads(relayed.body)["resource_luid"] == fired["resource_luid"]
        assert relayed.headers["webhook-id"] == fired["deliveries"][0]["id"]
        assert relayed.headers["content-type"] == "application/json"
        cli.run("webhooks", "delete", hook, "--yes")  # else the bin is kept (test_cli_one.py)
        hook = ""
        assert listen.interrupt() == 130
        bin_id = url.rsplit("/", 1)[-1]
        assert f"bin {bin_id} deleted" in "".join(listen.err)
        assert bin_id not in {b["id"] for b in cli.json("inbox", "list")}
    finally:
        if listen.process.poll() is None:
            listen.process.kill()
        if hook:
            cli.run("webhooks", "delete", hook, "--yes")


def test_listen_json_filters_events_and_reports_a_dead_app(cli: Cli) -> None:
    listen = cli.start("listen", "--forward", "http://127.0.0.1:9/hook", "--events",
                       "DatasourceCreated", "--json", "--keep", "--interval", "0.2")  # fmt: skip
    try:
        ready = json.loads(listen.wait_for(r'^\{"type": "ready".*').group(0))
        assert ready["events"] == ["DatasourceCreated"]
        for event_type in ("WorkbookCreated", "DatasourceCreated"):
            body = {"event_type": event_type, "resource": "X", "resource_luid": "l",
                    "resource_name": "n", "site_luid": "s", "created_at": "2026-01-01T00:00:00Z"}  # fmt: skip
            httpx.post(ready["url"] + "/sub?x=1", json=body, timeout=10)
        line = json.loads(listen.wait_for(r'^\{"type": "request".*').group(0))
        assert line["event_type"] == "DatasourceCreated" and line["status"] is None
        assert line["error"].startswith("ConnectError") and line["path"] == "/hook/sub"
        assert line["forwarded_to"] == "http://127.0.0.1:9/hook/sub?x=1"
        assert listen.interrupt() == 130
        requests = [json.loads(x) for x in listen.out if '"type": "request"' in x]
        assert len(requests) == 1  # the WorkbookCreated one was filtered out
        assert ready["bin"] in {b["id"] for b in cli.json("inbox", "list")}  # --keep
    finally:
        if listen.process.poll() is None:
            listen.process.kill()


@pytest.fixture(scope="class")
def listening(cli: Cli, server: ServerProcess) -> Iterator[dict[str, str]]:
    """One webhook per event, all posting to one bin (made with REST: not under test)."""
    rest = Rest.sign_in(server)
    url = cli.run("inbox", "create", "--name", "every event", "-q").stdout.strip()
    hooks = {e.name: rest.create_webhook(f"every-{e.name}", e.name, url) for e in events.CATALOG}
    yield hooks
    for hook in hooks.values():
        rest.delete_webhook(hook)
    rest.close()


class TestFireEveryEvent:
    """``fire`` causes every catalog event for real; each reaches the webhook listening for it."""

    @pytest.mark.parametrize("event", [e.name for e in events.CATALOG])
    def test_fire_delivers(self, cli: Cli, listening: dict[str, str], event: str) -> None:
        fired = cli.json("fire", event)
        assert fired["complete"] is True
        (delivery,) = [d for d in fired["deliveries"] if d["webhook_id"] == listening[event]]
        assert delivery["status"] == "succeeded" and delivery["event"] == event
        assert delivery["resource_luid"] == fired["resource_luid"]
        assert delivery["resource_name"] == fired["resource_name"]


# -- the docs' walk-through -------------------------------------------------------------------


def test_the_walkthrough_in_docs_cli_md_works(cli: Cli, server: ServerProcess) -> None:
    """The five commands of docs/cli.md's walk-through, run by bash as a reader would."""
    text = (ROOT / "docs" / "cli.md").read_text()
    script = text.split("<!-- walkthrough -->", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    assert sum(1 for line in script.splitlines() if re.match(r"(\w+=\$\()?tabhooks ", line)) == 5
    script = script.replace("http://127.0.0.1:8000", server.base_url).replace(
        "change-me", ADMIN_PASSWORD
    )
    script = script.replace("--body", "--body --count 1")  # the reader stops it with Ctrl-C
    env = {
        **cli.env,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{cli.env.get('PATH', '')}",
        "TABHOOKS_CONFIG_DIR": str(cli.config_dir.parent / "walkthrough"),
    }
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S * 2,
    )  # fmt: skip
    walker = Cli(env, Path(env["TABHOOKS_CONFIG_DIR"]))
    try:
        assert result.returncode == 0, result.stdout + result.stderr
        assert re.search(r"POST /\s+WorkbookCreated '[^']+'\s+-> 200", result.stdout), result.stdout
        assert '"event_type": "WorkbookCreated"' in result.stdout
    finally:
        for hook in walker.json("webhooks", "list"):
            walker.run("webhooks", "delete", hook["id"], "--yes")
