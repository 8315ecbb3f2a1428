"""``tabhooks listen --forward URL``: relay a bin's requests to an app on this machine.

Like ``stripe listen``: the tabhooks server captures webhooks in a bin (reachable by the
server even when the laptop is not), and this command replays each POST that arrives after
it started to the local app — same headers (minus credentials and hop-by-hop ones), path
below the bin, query and body, so signature verification in the app still works — printing
one line per request with the app's answer. Anybody may post to a bin, so what is forwarded
is limited (:mod:`tabhooks.cli.forwarding`): only POSTs, only below the forward URL. The bin
is deleted on Ctrl-C unless ``--keep`` (or an existing bin was given with ``--bin``) — and
unless a webhook still points at it: deleting it then would make that webhook's deliveries
fail, so listen warns and deletes it only when told (``--yes``, or "y" at the prompt).
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

import httpx
import typer
from rich.text import Text

from tabhooks.cli import forwarding, inbox, output, polling, terminal
from tabhooks.cli.events_cmd import parse_event
from tabhooks.cli.options import DEFAULT, JsonOpt, PollOpt, ProfileOpt, VerboseOpt
from tabhooks.cli.sessions import session
from tabhooks.tableau.client import TableauClient

FORWARD_TIMEOUT_S = 30.0


def relay(http: httpx.Client, base: str, request: dict[str, Any]) -> dict[str, Any]:
    """Replay one captured request to the local app; what happened, as a JSON-able dict.

    A request :mod:`~tabhooks.cli.forwarding` refuses is reported with ``status`` null,
    ``forwarded_to`` null and ``error`` saying why, and nothing is sent.
    """
    event = request.get("tableau") or {}
    result: dict[str, Any] = {
        "request_id": request["id"],
        "received_at": request["received_at"],
        "method": request["method"],
        "path": "/" + str(request.get("path") or "").lstrip("/"),
        "event_type": event.get("event_type"),
        "forwarded_to": None,
        "status": None,
        "error": None,
    }
    try:
        forwarding.check_method(request)
        target = forwarding.target(base, request)
    except forwarding.NotForwarded as refused:
        result["error"] = f"not forwarded: {refused}"
        return result
    result["forwarded_to"] = target
    result["path"] = urlsplit(target).path or "/"
    if request.get("truncated"):
        result["error"] = "not forwarded: the body was cut at the inbox's size limit"
        return result
    try:
        answer = http.request(
            "POST",
            target,
            headers=forwarding.headers(request),
            content=inbox.body_bytes(request),
        )
        result["status"] = answer.status_code
    except httpx.HTTPError as exc:
        result["error"] = f"{type(exc).__name__}: {exc or 'no detail'}"
    return result


def _line(result: dict[str, Any]) -> Text:
    status = result["status"]
    if status is not None:
        answer = terminal.text(status, "green" if 200 <= status < 300 else "red")
    else:
        answer = terminal.text(result["error"], "red")
    return output.line(
        (output.local_time(result["received_at"]), "dim"),
        "  ",
        (str(result["method"]), "bold"),
        f" {result['path']}  ",
        (str(result["event_type"] or "-"), "cyan"),
        "  -> ",
        answer,
    )


def listen(
    forward: Annotated[
        str,
        typer.Option(
            "--forward",
            envvar="TABHOOKS_FORWARD_URL",
            help="Local app to relay every request to, e.g. http://localhost:5000/hook.",
        ),
    ],
    events: Annotated[
        list[str] | None,
        typer.Option("--events", help="Only relay these events (repeat, or comma-separated)."),
    ] = None,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the bin on exit.")] = False,
    bin_ref: Annotated[
        str | None,
        typer.Option(
            "--bin",
            metavar="BIN",
            help="Use this existing bin (id, capture URL or name; kept on exit) instead of a "
            "new one.",
        ),
    ] = None,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes",
            "-y",
            help="On exit, delete the bin even if a webhook still points at it (without asking).",
        ),
    ] = False,
    interval: PollOpt = polling.INTERVAL_S,
    profile: ProfileOpt = DEFAULT,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Capture webhooks in a bin and forward each one to a local app, until Ctrl-C.

    Prints the bin's capture URL: point a webhook at it. Then one line per request that
    arrives from now on: time, method, path, Tableau event, and the local app's status. Only
    POSTs are forwarded, only below URL, without credentials (Authorization, Cookie,
    X-Tableau-Auth). With --json, a "ready" object, one object per request and a "stopped"
    one. On exit the bin is deleted unless --keep or --bin; one a webhook still points at is
    deleted only after a "y" at the prompt, or with --yes.

    Example: [bold]tabhooks listen --forward http://localhost:5000/hook --events WorkbookCreated[/]
    """
    parts = urlsplit(forward)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise typer.BadParameter(f"'{forward}' is not an http(s) URL", param_hint="--forward")
    wanted = {
        parse_event(name.strip(), "--events").name
        for value in events or ()
        for name in value.split(",")
        if name.strip()
    }
    with (
        session(profile, verbose, needs_tabhooks=True, hints=inbox.HINTS) as client,
        httpx.Client(timeout=FORWARD_TIMEOUT_S, follow_redirects=False) as http,
        polling.until_signalled() as stop,
    ):
        http.headers.clear()  # send the captured headers only, not httpx's defaults
        if bin_ref:
            found = inbox.resolve(client, bin_ref)
        else:
            found = client.ext("POST", "/inbox/bins", {"name": f"tabhooks listen -> {forward}"})
        owned = bin_ref is None and not keep
        try:
            follower = inbox.BinFollower(client, found["id"])
            follower.start(0)
            _announce(found, forward, wanted, as_json)
            for request in inbox.follow(follower, stop, interval):
                event = (request.get("tableau") or {}).get("event_type")
                if wanted and event not in wanted:
                    continue
                result = relay(http, forward, request)
                if as_json:
                    output.emit_json_line({"type": "request", **result})
                else:
                    output.console.print(_line(result), soft_wrap=True)
        finally:
            _leave(client, found, owned=owned, yes=yes, as_json=as_json)


def _leave(
    client: TableauClient, found: dict[str, Any], *, owned: bool, yes: bool, as_json: bool
) -> None:
    """Delete the bin listen made, unless a webhook still points at it and nobody said so."""
    bin_id = str(found["id"])
    pointing = (inbox.webhooks_pointing_at(client, bin_id) or []) if owned else []
    deleted = owned and (not pointing or yes or _confirmed(bin_id, pointing))
    if deleted:
        client.ext("DELETE", f"/inbox/bins/{bin_id}")
    if as_json:
        output.emit_json_line(
            {
                "type": "stopped",
                "bin": bin_id,
                "deleted": deleted,
                "webhooks": [{"id": h["id"], "name": h["name"]} for h in pointing],
            }
        )
    if deleted:
        still = f" {inbox.describe_webhooks(pointing)} still pointed at it." if pointing else ""
        output.note(f"Stopped; bin {bin_id} deleted.{still}")
    elif pointing:
        output.note(
            f"Stopped; bin {bin_id} kept, because {inbox.describe_webhooks(pointing)} still "
            f"point(s) at it: {found['url']}\nWhen nothing does, delete it with: "
            f"tabhooks inbox delete {bin_id} --yes (or stop listen with --yes next time)."
        )
    else:
        output.note(f"Stopped; bin {bin_id} kept: {found['url']}")


def _confirmed(bin_id: str, pointing: list[dict[str, Any]]) -> bool:
    """Warn that webhooks point at the bin; ask whether to delete it, when someone can answer."""
    output.note(
        f"Webhook(s) {inbox.describe_webhooks(pointing)} still point at bin {bin_id}: "
        "deleting it makes their deliveries fail."
    )
    if not sys.stdin.isatty():
        return False
    try:
        return typer.confirm("Delete the bin anyway?", default=False, err=True)
    except typer.Abort:
        return False


def _announce(found: dict[str, Any], forward: str, wanted: set[str], as_json: bool) -> None:
    if as_json:
        output.emit_json_line(
            {
                "type": "ready",
                "bin": found["id"],
                "url": found["url"],
                "ui_url": found["ui_url"],
                "forward": forward,
                "events": sorted(wanted),
                "started_at": datetime.now().astimezone().isoformat(),
            }
        )
        return
    output.say("Ready! Forwarding ", (found["url"], "bold"), f" -> {forward}")
    which = ", ".join(sorted(wanted)) if wanted else "EVENT"
    output.note(
        f"Point a webhook at it: tabhooks webhooks create --name NAME --event {which} "
        f"--url {found['url']}\nCtrl-C to stop."
    )
