"""One CLI (issue 16): every command signs in, prints and takes options the same way.

``tabhooks relay`` uses saved logins and takes no secret as an argument, prints tables and
``--json``, and ``relay test`` reports each target's outcome; ``inbox`` commands name a bin
by its name too; ``listen`` does not delete a bin a webhook still points at; ``--json`` works
before the command as after it; help shows flags as flags; at 80 columns no id or URL is
broken. Everything runs against the real server, real local receivers and the CLI as a
subprocess (help and table layout also in-process).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import typer
from typer.testing import CliRunner

from tabhooks.cli.main import app
from tests.acceptance.test_cli import Cli, flat, signed_in_cli
from tests.support.receiver import Receiver
from tests.support.server import ServerProcess


@pytest.fixture(scope="module")
def cli(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    return signed_in_cli(server, tmp_path_factory.mktemp("config") / "tabhooks")


@pytest.fixture
def receivers() -> Iterator[dict[str, Receiver]]:
    started = {"ok": Receiver().start(), "broken": Receiver(status=500, body=b"down").start()}
    yield started
    for receiver in started.values():
        receiver.stop()


def _routes(cli: Cli) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in cli.json("relay", "list")}


# -- relay ------------------------------------------------------------------------------------


def test_relay_add_list_get_test_remove_with_the_saved_login(
    cli: Cli, receivers: dict[str, Receiver], tmp_path: Any
) -> None:
    template = tmp_path / "body.j2"
    template.write_text('{"msg": {{ (event.title ~ " " ~ event.resource_name) | tojson }}}')
    cli.env["HOOK_URL"] = receivers["ok"].url  # a secret URL comes from a variable
    cli.env["HOOK_AUTH"] = "Bearer from-the-environment"
    added = cli.json(
        "relay", "add", "cli route", "-e", "DatasourceRefreshFailed",
        "--http", "env:HOOK_URL", "-H", "X-Env: test", "-H", "Authorization: env:HOOK_AUTH",
        "--template", f"@{template}",
    )  # fmt: skip
    assert added["inbound_url"].endswith(f"/relay/{added['id']}")
    assert added["targets"][0]["url"] == receivers["ok"].url
    assert _routes(cli)["cli route"]["id"] == added["id"]
    table = cli.run("relay", "list").stdout
    assert added["id"] in table and added["inbound_url"] in table
    shown = cli.run("relay", "get", "CLI ROUTE").stdout  # by name, in any case
    assert added["id"] in shown and receivers["ok"].url in shown

    tested = cli.json("relay", "test", "cli route")
    assert tested["ok"] is True and tested["complete"] is True
    (outcome,) = tested["targets"]
    assert outcome["target"] == "http" and outcome["status"] == "succeeded"
    assert outcome["last_status"] == 200 and outcome["url"] == receivers["ok"].url
    (request,) = receivers["ok"].requests
    assert json.loads(request.body) == {"msg": "Datasource refresh failed Sample: Superstore"}
    assert request.headers["x-env"] == "test"
    assert request.headers["authorization"] == "Bearer from-the-environment"

    people = cli.run("relay", "test", added["id"]).stdout
    assert "succeeded" in people and "HTTP 200" in people

    cli.run("relay", "remove", "cli route", expect=2)  # --yes is required
    assert cli.json("relay", "remove", "cli route", "--yes")["deleted"] == added["id"]
    assert "cli route" not in _routes(cli)

    inbound, secret = cli.run("relay", "add", "cli signed", "--http", receivers["ok"].url,
                              "--sign", "-q").stdout.split()  # fmt: skip
    assert inbound == _routes(cli)["cli signed"]["inbound_url"] and secret.startswith("whsec_")
    cli.run("relay", "remove", "cli signed", "--yes")
    broken = cli.run("relay", "add", "bad", "--slack", receivers["ok"].url, "--template", "{{",
                     expect=1)  # fmt: skip
    assert "does not compile" in broken.stderr and "bad" not in _routes(cli)


def test_relay_test_waits_and_exits_1_when_a_target_fails(
    cli: Cli, receivers: dict[str, Receiver]
) -> None:
    route = cli.json(
        "relay", "add", "half broken", "--slack", receivers["ok"].url,
        "--http", receivers["broken"].url,
    )  # fmt: skip
    try:
        tested = cli.run("relay", "test", route["id"], "--json", expect=1)
        report = json.loads(tested.stdout)
        assert report["ok"] is False and report["complete"] is True
        by_target = {o["target"]: o for o in report["targets"]}
        assert by_target["slack"]["status"] == "succeeded"
        assert by_target["slack"]["last_status"] == 200
        broken = by_target["http"]
        assert broken["ok"] is False and broken["last_status"] == 500
        assert broken["status"] in ("failed", "pending") and broken["attempts"] >= 1
        assert broken["detail"] == "down"  # the receiver's answer
        people = cli.run("relay", "test", "half broken", expect=1)
        assert "HTTP 500" in people.stdout and "HTTP 200" in people.stdout
    finally:
        cli.run("relay", "remove", route["id"], "--yes")


def test_relay_template_error_is_reported_per_target(
    cli: Cli, receivers: dict[str, Receiver]
) -> None:
    route = cli.json("relay", "add", "bad template", "--http", receivers["ok"].url,
                     "--template", "{{ event.name / 0 }}")  # fmt: skip
    try:
        report = json.loads(cli.run("relay", "test", "bad template", "--json", expect=1).stdout)
        (outcome,) = report["targets"]
        assert outcome["status"] == "failed" and outcome["last_error"]
        assert "TypeError" in outcome["detail"]
        assert not receivers["ok"].requests
        people = cli.run("relay", "test", "bad template", expect=1).stdout
        assert "failed" in people and "TypeError" in people
    finally:
        cli.run("relay", "remove", route["id"], "--yes")


def test_relay_takes_no_secret_as_an_argument(cli: Cli, receivers: dict[str, Receiver]) -> None:
    refused = cli.run("relay", "add", "leaky", "--http", receivers["ok"].url,
                      "--secret", "hunter2", expect=2)  # fmt: skip
    assert "not taken as arguments" in refused.stderr and "--secret-env" in refused.stderr
    assert "leaky" not in _routes(cli)

    cli.env["ROUTE_SECRET"] = "s3cret-from-env"
    by_env = cli.json("relay", "add", "guarded", "--http", receivers["ok"].url,
                      "--secret-env", "ROUTE_SECRET")  # fmt: skip
    typed = cli.run("relay", "add", "guarded 2", "--http", receivers["ok"].url,
                    "--secret-stdin", "--json", stdin="typed-on-stdin\n")  # fmt: skip
    by_stdin = json.loads(typed.stdout)
    try:
        payload = {"event_type": "DatasourceRefreshFailed", "resource_name": "x"}
        for route, secret in ((by_env, "s3cret-from-env"), (by_stdin, "typed-on-stdin")):
            assert route["secret_required"] is True
            without = httpx.post(route["inbound_url"], json=payload, timeout=10)
            assert without.status_code in (401, 403), without.text
            header = {route["secret_header"]: secret}
            good = httpx.post(route["inbound_url"], json=payload, headers=header, timeout=10)
            assert good.status_code == 202, good.text
        missing = cli.run("relay", "add", "unset", "--http", receivers["ok"].url,
                          "--secret-env", "NOT_SET_ANYWHERE", expect=2)  # fmt: skip
        assert "NOT_SET_ANYWHERE is not set" in flat(missing.stderr)
    finally:
        for route in (by_env, by_stdin):
            cli.run("relay", "remove", route["id"], "--yes")


def test_relay_without_a_login_says_how_to_log_in(cli: Cli, tmp_path: Any) -> None:
    fresh = Cli({**cli.env, "TABHOOKS_CONFIG_DIR": str(tmp_path / "none")}, tmp_path / "none")
    result = fresh.run("relay", "list", expect=1)
    assert "no profile named 'default'" in result.stderr and "tabhooks login" in result.stderr


# -- inbox by name, listen's warning ------------------------------------------------------------


def test_inbox_commands_take_a_bins_name(cli: Cli) -> None:
    first = cli.json("inbox", "create", "--name", "twin")
    second = cli.json("inbox", "create", "--name", "twin")
    solo = cli.json("inbox", "create", "--name", "Solo Bin")
    try:
        httpx.post(solo["url"], json={"hello": "named"}, timeout=10)
        tailed = cli.run("inbox", "tail", "solo bin", "-n", "1", "--count", "1", "--json")
        assert json.loads(tailed.stdout)["body"] == '{"hello":"named"}'

        ambiguous = cli.run("inbox", "tail", "twin", "--count", "1", expect=1)
        message = " ".join(ambiguous.stderr.split())
        assert "2 bins are named 'twin'" in message
        assert first["id"] in message and second["id"] in message
        cli.run("inbox", "delete", "twin", "--yes", expect=1)  # deletes nothing
        assert {first["id"], second["id"]} <= {b["id"] for b in cli.json("inbox", "list")}

        unknown = cli.run("inbox", "tail", "no such bin", expect=1)
        assert "no bin with the id, capture URL or name 'no such bin'" in unknown.stderr

        assert cli.json("inbox", "delete", "Solo Bin", "--yes")["deleted"] == solo["id"]
        assert solo["id"] not in {b["id"] for b in cli.json("inbox", "list")}
    finally:
        for made in (first, second, solo):
            cli.run("inbox", "delete", made["id"], "--yes", expect=None)


def test_listen_keeps_a_bin_a_webhook_points_at_unless_told(cli: Cli) -> None:
    listen = cli.start("listen", "--forward", "http://127.0.0.1:9/hook", "--interval", "0.2")
    hook = ""
    try:
        url = listen.wait_for(r"Ready! Forwarding (\S+) -> ").group(1)
        bin_id = url.rsplit("/", 1)[-1]
        hook = cli.json("webhooks", "create", "--name", "points-at-listen", "--event",
                        "WorkbookCreated", "--url", url + "/sub")["id"]  # fmt: skip
        assert listen.interrupt() == 130
        said = " ".join("".join(listen.err).split())
        assert "'points-at-listen'" in said and "still point" in said
        assert f"bin {bin_id} kept" in said and f"tabhooks inbox delete {bin_id} --yes" in said
        assert bin_id in {b["id"] for b in cli.json("inbox", "list")}

        deleted = cli.run("inbox", "delete", bin_id, "--yes")  # says who still points there
        assert "points-at-listen" in " ".join(deleted.stderr.split())

        told = cli.start("listen", "--forward", "http://127.0.0.1:9/hook", "--json", "--yes",
                         "--interval", "0.2")  # fmt: skip
        ready = json.loads(told.wait_for(r'^\{"type": "ready".*').group(0))
        cli.run("webhooks", "update", hook, "--url", ready["url"])
        assert told.interrupt() == 130
        stopped = json.loads(told.wait_for(r'^\{"type": "stopped".*').group(0))
        assert stopped["deleted"] is True and stopped["webhooks"][0]["id"] == hook
        assert ready["bin"] not in {b["id"] for b in cli.json("inbox", "list")}
    finally:
        for process in (listen.process,):
            if process.poll() is None:
                process.kill()
        if hook:
            cli.run("webhooks", "delete", hook, "--yes")


# -- --json in one place, help ------------------------------------------------------------------


def test_json_and_profile_work_before_the_command_too(cli: Cli) -> None:
    made = cli.json("inbox", "create", "--name", "json-before")
    try:
        before = json.loads(cli.run("--json", "inbox", "list").stdout)
        after = cli.json("inbox", "list")
        assert before == after and made["id"] in {b["id"] for b in before}
        assert json.loads(cli.run("--json", "webhooks", "list").stdout) == cli.json(
            "webhooks", "list"
        )
        assert json.loads(cli.run("--json", "events").stdout)[0]["name"]
        cli.run("login", "--server", cli.profile()["server"], "--username", "admin",
                "--password-env", "ADMIN_PW", "--profile", "second")  # fmt: skip
        assert json.loads(cli.run("--profile", "second", "--json", "inbox", "list").stdout)
        missing = cli.run("--profile", "nobody", "inbox", "list", expect=1)
        assert "no profile named 'nobody'" in missing.stderr
        # After the command wins over before it.
        cli.run("--profile", "nobody", "inbox", "list", "--profile", "second")
        assert cli.run("--json", "serve", expect=2).returncode == 2
    finally:
        cli.run("inbox", "delete", made["id"], "--yes")


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    subs = getattr(command, "commands", None)
    if subs is None:
        yield path, command
        return
    for name, sub in subs.items():
        yield from _commands(sub, (*path, name))


#: Commands with no JSON to print: the servers.
_SERVERS = {("serve",), ("worker",), ("relay", "serve")}


def test_every_client_command_takes_json() -> None:
    missing = [
        " ".join(path)
        for path, command in _commands(typer.main.get_command(app))
        if path not in _SERVERS and "--json" not in {o for p in command.params for o in p.opts}
    ]
    assert missing == []


def test_help_shows_flags_without_a_value() -> None:
    runner = CliRunner()
    for path, _ in [((), None), *_commands(typer.main.get_command(app))]:
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "120", "NO_COLOR": "1"})
        assert result.exit_code == 0, (path, result.output)
        assert "<bool>" not in result.output, (path, result.output)
    shown = runner.invoke(app, ["webhooks", "list", "--help"], env={"COLUMNS": "120"}).output
    (json_line,) = [line for line in shown.splitlines() if re.match(r"\W*--json", line)]
    assert re.search(r"--json\s+Print JSON", json_line), json_line
    (profile_line,) = [line for line in shown.splitlines() if re.match(r"\W*--profile", line)]
    assert "NAME" in profile_line  # an option that takes a value still says so


# -- 80 columns -------------------------------------------------------------------------------


def _whole_on_a_line(text: str, tokens: set[str]) -> list[str]:
    """The tokens that do not appear, unbroken, on any one line of ``text``."""
    lines = text.splitlines()
    return sorted(t for t in tokens if not any(t in line for line in lines))


def test_ids_and_urls_are_never_broken_at_80_columns(
    cli: Cli, receivers: dict[str, Receiver]
) -> None:
    narrow = Cli({**cli.env, "COLUMNS": "80"}, cli.config_dir)
    bin_ = cli.json("inbox", "create", "--name", "a bin with a rather long name for 80 columns")
    hook = cli.json("webhooks", "create", "--name", "a webhook with a long name too",
                    "--event", "DatasourceCreated", "--url", bin_["url"])  # fmt: skip
    route = cli.json("relay", "add", "an eighty column route", "--http", receivers["ok"].url)
    try:
        fired = narrow.run("fire", "DatasourceCreated")
        delivery = cli.json("deliveries", "list", "--limit", "1")[0]
        assert _whole_on_a_line(fired.stdout, {delivery["id"], bin_["url"]}) == []
        checks = {
            ("webhooks", "list"): {hook["id"], bin_["url"]},
            ("inbox", "list"): {bin_["id"], bin_["url"]},
            ("deliveries", "list"): {delivery["id"]},
            ("relay", "list"): {route["id"], route["inbound_url"]},
            ("relay", "get", route["id"]): {route["id"], route["inbound_url"], receivers["ok"].url},
            ("events",): {"webhook-source-event-datasource-refresh-succeeded"},
        }
        for args, tokens in checks.items():
            out = narrow.run(*args).stdout
            table_lines = [line for line in out.splitlines() if set("┃│━─") & set(line)]
            # A table fits in 80 columns; what does not comes as label/value lines.
            assert all(len(line) <= 80 for line in table_lines), out
            assert _whole_on_a_line(out, tokens) == [], (args, out)
    finally:
        cli.run("relay", "remove", route["id"], "--yes")
        cli.run("webhooks", "delete", hook["id"], "--yes")
        cli.run("inbox", "delete", bin_["id"], "--yes")
