"""``tabhooks relay``: manage relay routes on a tabhooks server, and serve the relay role alone.

The management commands sign in the way every other client command does — with a profile
saved by ``tabhooks login`` (``--profile``) — and call ``/tabhooks/v1/relays``. They take no
secret as an argument, where it would land in shell history and ``ps``: the route's shared
secret comes from an environment variable (``--secret-env``) or stdin / a hidden prompt
(``--secret-stdin``), and a target URL or header value that is itself a secret (a Slack
incoming-webhook URL, an ``Authorization`` header) may be written ``env:VAR``.

``relay test`` sends a sample event through every target and then waits, like ``fire``, until
each message was tried, reporting each target's outcome (exit 1 if any failed). ``relay
serve`` is ``tabhooks serve`` with ``TABHOOKS_ROLES=relay``: only ``/relay/{route-id}`` is
answered (see docs/relay.md).
"""

from __future__ import annotations

import os
import re
import shlex
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from tabhooks.cli import output, terminal
from tabhooks.cli import serve as serve_module
from tabhooks.cli.events_cmd import parse_event
from tabhooks.cli.fire import failed
from tabhooks.cli.options import (
    DEFAULT,
    JsonOpt,
    ProfileOpt,
    VerboseOpt,
    YesOpt,
    refuse_root_json,
    require_yes,
)
from tabhooks.cli.output import CliError
from tabhooks.cli.sessions import session
from tabhooks.tableau.client import TableauApiError, TableauClient

app = typer.Typer(
    help="Relay Tableau events to Slack, Microsoft Teams, IFTTT or any templated HTTP call.",
    no_args_is_help=True,
)

RouteArg = Annotated[
    str, typer.Argument(metavar="ROUTE", help="The route's id (rly_…) or its name.")
]
#: What ``--wait`` waits for: every message tried once (a retry schedule may take hours).
POLL_S = 0.25
#: A value read from the environment instead of the command line: ``env:SLACK_URL``.
_ENV_VALUE = re.compile(r"^env:([A-Za-z_][A-Za-z0-9_]*)$")
_ROUTE_ID = re.compile(r"^rly_[A-Za-z0-9_-]+$")
_HINTS = {"404003": "List the site's relay routes with: tabhooks relay list"}


def from_env(value: str, what: str) -> str:
    """``value``, or the variable it names when written ``env:VAR`` (a secret URL or header).

    Raises:
        typer.BadParameter: The variable is not set.
    """
    match = _ENV_VALUE.match(value.strip())
    if match is None:
        return value
    found = os.environ.get(match.group(1))
    if not found:
        raise typer.BadParameter(
            f"the environment variable {match.group(1)} is not set", param_hint=what
        )
    return found


def read_secret(env: str | None, use_stdin: bool) -> str | None:
    """The route's shared secret: from ``$env``, from stdin (a hidden prompt on a terminal).

    Raises:
        typer.BadParameter: Both ways given, the variable unset, or nothing read.
    """
    if env and use_stdin:
        raise typer.BadParameter(
            "give --secret-env or --secret-stdin, not both", param_hint="--secret-env"
        )
    if env:
        value = os.environ.get(env)
        if not value:
            raise typer.BadParameter(
                f"the environment variable {env} is not set", param_hint="--secret-env"
            )
        return value
    if not use_stdin:
        return None
    if sys.stdin.isatty():
        value = str(typer.prompt("Route secret", hide_input=True, confirmation_prompt=True))
    else:
        value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        raise typer.BadParameter("no secret on stdin", param_hint="--secret-stdin")
    return value


def _refuse_secret_argument(value: str | None) -> str | None:
    """``--secret VALUE`` is refused: a secret on the command line is in history and ``ps``."""
    if value is not None:
        raise typer.BadParameter(
            "secrets are not taken as arguments (they would stay in shell history and ps); "
            "use --secret-env VAR, or --secret-stdin to type it at a hidden prompt",
            param_hint="--secret",
        )
    return None


def _template(value: str | None) -> str | None:
    """``@file`` reads the template from a file, as curl does for bodies."""
    if value and value.startswith("@"):
        path = Path(value[1:])
        try:
            return path.read_text()
        except OSError as exc:
            raise typer.BadParameter(
                f"cannot read {path}: {exc.strerror}", param_hint="--template"
            ) from None
    return value


def _split_header(value: str) -> tuple[str, str]:
    name, sep, rest = value.partition(":")
    if not sep or not name.strip():
        raise typer.BadParameter(f"'{value}' is not 'Name: value'", param_hint="--header")
    return name.strip(), from_env(rest.strip(), "--header")


def _enrich_with(
    profile: str | None,
    server: str | None,
    site: str,
    pat_name: str | None,
    secret_env: str | None,
) -> dict[str, Any] | None:
    """The API's ``enrich_with``; the PAT secret comes from a variable, never an argument."""
    if profile:
        return {"profile": profile}
    if not server:
        return None
    secret = os.environ.get(secret_env) if secret_env else None
    if not pat_name or not secret:
        raise typer.BadParameter(
            "--enrich-server needs --enrich-pat-name and --enrich-pat-secret-env VAR (set)",
            param_hint="--enrich-server",
        )
    return {"server": server, "site": site, "pat_name": pat_name, "pat_secret": secret}


def resolve(client: TableauClient, ref: str) -> dict[str, Any]:
    """The route ``ref`` names: an id (one GET) or a name (exact, then in any case)."""
    if _ROUTE_ID.match(ref):
        try:
            found: dict[str, Any] = client.ext("GET", f"/relays/{ref}")
            return found
        except TableauApiError as missing:
            if missing.status != 404:
                raise
    routes = client.ext("GET", "/relays")["relays"]
    named = [r for r in routes if r["name"] == ref] or [
        r for r in routes if str(r["name"]).lower() == ref.lower()
    ]
    if len(named) == 1:
        return dict(named[0])
    if named:
        ids = ", ".join(f"{r['id']} ('{r['name']}')" for r in named)
        raise CliError(f"{len(named)} relay routes match '{ref}': {ids}", hint="Give its id.")
    raise CliError(
        f"no relay route with the id or name '{ref}' on this site",
        hint="List them with: tabhooks relay list",
    )


def _targets_text(route: dict[str, Any]) -> str:
    return ", ".join(str(t["type"]) for t in route["targets"])


def _show(route: dict[str, Any]) -> None:
    """One route for people: what it passes on and where."""
    enrich = route["enrich_with"]
    source = enrich["source"]
    if source == "profile":
        source = f"profile '{enrich['profile']}'"
    elif source == "server":
        source = f"{enrich['server']} (site '{enrich['site'] or ''}', PAT {enrich['pat_name']})"
    pairs: list[tuple[str, Any]] = [
        ("route", route["id"]),
        ("name", route["name"]),
        ("inbound URL", route["inbound_url"]),
        ("events", ", ".join(route["events"]) or "every event"),
        ("resource", route["resource_glob"] or "any"),
        ("secret", f"required in {route['secret_header']}" if route["secret_required"] else "no"),
        ("enrich", source if route["enrich"] else "no"),
        ("signed", route["signed"]),
    ]
    if route.get("signing_secret"):
        pairs.append(("signing secret", f"{route['signing_secret']}  (shown only now)"))
    output.fields(pairs)
    output.table(
        "targets",
        ("type", "method", "url", "template"),
        [
            (t["type"], t["method"], t["url"], "custom" if t.get("template") else "default")
            for t in route["targets"]
        ],
        keep=(2,),
    )


@app.command("add")
def add(
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="A name for people (unique on the site).")
    ],
    event: Annotated[
        list[str] | None,
        typer.Option(
            "--event",
            "-e",
            metavar="EVENT",
            help="Event to pass on, either spelling (repeatable).",
        ),
    ] = None,
    slack: Annotated[
        list[str] | None,
        typer.Option("--slack", metavar="URL", help="Slack incoming webhook URL, or env:VAR."),
    ] = None,
    teams: Annotated[
        list[str] | None,
        typer.Option("--teams", metavar="URL", help="Teams Workflows URL, or env:VAR."),
    ] = None,
    ifttt: Annotated[
        list[str] | None,
        typer.Option("--ifttt", metavar="URL", help="IFTTT Maker webhook URL, or env:VAR."),
    ] = None,
    http: Annotated[
        list[str] | None,
        typer.Option("--http", metavar="URL", help="Generic HTTP target URL, or env:VAR."),
    ] = None,
    method: Annotated[str, typer.Option("--method", help="Method of the --http targets.")] = "POST",
    header: Annotated[
        list[str] | None,
        typer.Option(
            "--header",
            "-H",
            metavar="'NAME: VALUE'",
            help="A header for --http targets (repeatable); the value may be env:VAR.",
        ),
    ] = None,
    template: Annotated[
        str | None,
        typer.Option("--template", metavar="TEXT|@FILE", help="Jinja2 template, or @file."),
    ] = None,
    resource_glob: Annotated[
        str, typer.Option("--resource", metavar="GLOB", help="Glob on the resource name.")
    ] = "",
    site_luid: Annotated[
        str, typer.Option("--site-luid", help="Only events from this site LUID.")
    ] = "",
    secret_env: Annotated[
        str | None,
        typer.Option(
            "--secret-env",
            metavar="VAR",
            help="Require the shared secret in this variable in X-Tabhooks-Relay-Secret.",
        ),
    ] = None,
    secret_stdin: Annotated[
        bool,
        typer.Option(
            "--secret-stdin",
            help="Require a shared secret read from stdin (a hidden prompt on a terminal).",
        ),
    ] = False,
    secret: Annotated[
        str | None, typer.Option("--secret", hidden=True, callback=_refuse_secret_argument)
    ] = None,
    enrich: Annotated[
        bool, typer.Option("--enrich", help="Look resources up for templates.")
    ] = False,
    sign: Annotated[
        bool,
        typer.Option(
            "--sign", help="Sign --http targets (Standard Webhooks); shows the secret once."
        ),
    ] = False,
    enrich_profile: Annotated[
        str | None,
        typer.Option(
            "--enrich-profile",
            metavar="NAME",
            help="Enrich over REST as this login profile of the server (server admins).",
        ),
    ] = None,
    enrich_server: Annotated[
        str | None,
        typer.Option("--enrich-server", metavar="URL", help="Enrich over REST from this server."),
    ] = None,
    enrich_site: Annotated[str, typer.Option("--enrich-site", help="Site content URL there.")] = "",
    enrich_pat_name: Annotated[
        str | None, typer.Option("--enrich-pat-name", help="PAT name there.")
    ] = None,
    enrich_pat_secret_env: Annotated[
        str | None,
        typer.Option(
            "--enrich-pat-secret-env", metavar="VAR", help="Variable holding that PAT's secret."
        ),
    ] = None,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="Print only the inbound URL (and, with --sign, the signing secret below it).",
        ),
    ] = False,
    profile: ProfileOpt = DEFAULT,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Create a relay route and print its id and inbound URL (give it to a Tableau webhook);
    with --sign, the signing secret too, shown only this once.

    Example: [bold]tabhooks relay add refresh-alerts -e DatasourceRefreshFailed --slack env:SLACK[/]
    """
    del secret  # refused by its callback when given
    events = [parse_event(e, "--event").name for e in event or ()]
    body_template = _template(template)
    headers = dict(_split_header(h) for h in header or ())
    targets: list[dict[str, Any]] = [
        {"type": kind, "url": from_env(url, f"--{kind}"), "template": body_template}
        for kind, urls in (("slack", slack), ("teams", teams), ("ifttt", ifttt))
        for url in urls or ()
    ]
    targets += [
        {
            "type": "http",
            "url": from_env(url, "--http"),
            "method": method,
            "headers": headers,
            "template": body_template,
        }
        for url in http or ()
    ]
    if not targets:
        raise typer.BadParameter(
            "give at least one target: --slack, --teams, --ifttt or --http", param_hint="targets"
        )
    enrich_with = _enrich_with(
        enrich_profile, enrich_server, enrich_site, enrich_pat_name, enrich_pat_secret_env
    )
    body = {
        "name": name,
        "events": events,
        "resource_glob": resource_glob,
        "site_luid": site_luid,
        "secret": read_secret(secret_env, secret_stdin),
        "enrich": enrich or enrich_with is not None,
        "targets": targets,
        "sign": sign or None,
        "enrich_with": enrich_with,
    }
    with session(profile, verbose, needs_tabhooks=True, hints=_HINTS) as client:
        route = client.ext("POST", "/relays", body)
    if as_json:
        output.emit_json(route)
    elif quiet:
        output.say(route["inbound_url"])
        if route.get("signing_secret"):
            output.say(route["signing_secret"])
    else:
        _show(route)
        output.note(
            "Point a webhook at the inbound URL, then try it: "
            f"tabhooks relay test {shlex.quote(name)}"
        )


@app.command("list")
def list_routes(
    profile: ProfileOpt = DEFAULT, as_json: JsonOpt = False, verbose: VerboseOpt = False
) -> None:
    """List the site's relay routes: events, targets and inbound URL.

    Example: [bold]tabhooks relay list --json[/]
    """
    with session(profile, verbose, needs_tabhooks=True, hints=_HINTS) as client:
        routes = client.ext("GET", "/relays")["relays"]
    output.list_items(
        routes,
        as_json,
        ("route", "name", "events", "targets", "inbound URL"),
        lambda r: (
            r["id"],
            r["name"],
            ", ".join(r["events"]) or "*",
            _targets_text(r),
            r["inbound_url"],
        ),
        keep=(0, 4),
        empty="No relay routes on this site. Create one: tabhooks relay add --help",
    )


@app.command("get")
def get(
    route: RouteArg,
    profile: ProfileOpt = DEFAULT,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Show one relay route: filters, enrichment, and each target with its URL.

    Example: [bold]tabhooks relay get refresh-alerts[/]
    """
    with session(profile, verbose, needs_tabhooks=True, hints=_HINTS) as client:
        found = resolve(client, route)
    if as_json:
        output.emit_json(found)
    else:
        _show(found)


@app.command("remove")
def remove(
    route: RouteArg,
    yes: YesOpt = False,
    profile: ProfileOpt = DEFAULT,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Delete a relay route (needs --yes); its inbound URL stops working at once.

    Example: [bold]tabhooks relay remove refresh-alerts --yes[/]
    """
    require_yes(yes, "Removing a relay route")
    with session(profile, verbose, needs_tabhooks=True, hints=_HINTS) as client:
        found = resolve(client, route)
        client.ext("DELETE", f"/relays/{found['id']}")
    if as_json:
        output.emit_json({"deleted": found["id"], "name": found["name"]})
    else:
        output.say(f"Removed relay route {found['name']} ({found['id']}).")


def _tried(delivery: dict[str, Any]) -> bool:
    return delivery["status"] in ("succeeded", "failed") or int(delivery["attempts"]) > 0


def wait_for_messages(
    client: TableauClient, delivery_ids: list[str], wait_s: float
) -> tuple[list[dict[str, Any]], bool]:
    """Each message as it stands once tried (or at the deadline); (messages, all tried)."""
    deadline = time.monotonic() + wait_s
    current: dict[str, dict[str, Any]] = {}
    while True:
        for delivery_id in delivery_ids:
            if delivery_id not in current or not _tried(current[delivery_id]):
                current[delivery_id] = client.ext(
                    "GET", f"/sites/{client.site_id}/deliveries/{delivery_id}"
                )
        found = [current[d] for d in delivery_ids]
        complete = all(_tried(d) for d in found)
        if complete or time.monotonic() >= deadline:
            return found, complete
        time.sleep(POLL_S)


def _outcome(route: dict[str, Any], message: dict[str, Any], error: str | None) -> dict[str, Any]:
    """One target's result, in the JSON ``relay test`` prints."""
    kinds = {t["url"]: t["type"] for t in route["targets"]}
    attempts = message.get("attempt_log") or []
    last = attempts[-1] if attempts else {}
    detail = " ".join(str(last.get("detail") or last.get("response_body") or "").split())
    return {
        "delivery_id": message["id"],
        "target": kinds.get(message["url"], "?"),
        "url": message["url"],
        "status": message["status"],
        "attempts": message["attempts"],
        "last_status": message["last_status"],
        "last_error": error or message["last_error"],
        "detail": detail[:200] or None,
        "ok": message["status"] == "succeeded",
    }


@app.command("test")
def test(
    route: RouteArg,
    event: Annotated[
        str, typer.Option("--event", "-e", help="The sample event, either spelling.")
    ] = "DatasourceRefreshFailed",
    wait: Annotated[
        float,
        typer.Option(
            "--wait",
            envvar="TABHOOKS_RELAY_TEST_WAIT_S",
            min=0,
            help="Seconds to wait for every message to be tried (0: do not wait).",
        ),
    ] = 30.0,
    profile: ProfileOpt = DEFAULT,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Send a sample event through every target of the route (filters do not apply), wait
    until each message was tried, and report each target's outcome.

    Exits 1 when a message failed (a template that did not render, a target that refused or
    did not answer) or was not tried within --wait; the output says which.

    Example: [bold]tabhooks relay test refresh-alerts --event DatasourceRefreshFailed[/]
    """
    chosen = parse_event(event, "--event")
    with session(profile, verbose, needs_tabhooks=True, hints=_HINTS) as client:
        found = resolve(client, route)
        result = client.ext("POST", f"/relays/{found['id']}/test", {"event": chosen.name})
        ids = list(result["delivery_ids"])
        with output.errors.status(f"Waiting for {len(ids)} message(s)…"):
            messages, complete = wait_for_messages(client, ids, wait)
    errors: dict[str, str] = result["errors"]
    outcomes = [_outcome(found, m, errors.get(m["id"])) for m in messages]
    ok = bool(messages) and not any(failed(m) for m in messages) and (complete or wait == 0)
    if as_json:
        output.emit_json(
            {
                "route": found["id"],
                "name": found["name"],
                "event": chosen.name,
                "queued": result["queued"],
                "targets": outcomes,
                "complete": complete,
                "ok": ok,
            }
        )
    else:
        _report(found, chosen.name, outcomes, complete, wait)
    if not ok:
        raise typer.Exit(output.EXIT_ERROR)


def _report(
    route: dict[str, Any],
    event: str,
    outcomes: list[dict[str, Any]],
    complete: bool,
    wait: float,
) -> None:
    output.say("Sent a sample ", (event, "bold"), f" through {route['name']} ({route['id']}):")
    output.table(
        None,
        ("target", "url", "status", "attempts", "answer", "delivery"),
        [
            (
                o["target"],
                o["url"],
                output.status_text(o["status"])
                if o["status"] != "pending" or not o["attempts"]
                else terminal.text("retrying", "red"),
                o["attempts"],
                f"HTTP {o['last_status']}"
                if o["last_status"] is not None
                else o["last_error"] or "—",
                o["delivery_id"],
            )
            for o in outcomes
        ],
        keep=(1, 5),
    )
    for o in outcomes:
        if not o["ok"] and o["detail"]:
            output.say((f"{o['target']} {o['delivery_id']}: ", "red"), str(o["detail"]))
    if not complete:
        output.note(
            f"Not every message was tried within {wait:g} s; follow them with: "
            "tabhooks deliveries tail"
        )


@app.command("serve")
def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option("--host", help="Listen address (TABHOOKS_HOST).")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", help="Port (TABHOOKS_PORT); 0 picks a free one.")
    ] = None,
    dev: Annotated[bool, typer.Option("--dev", help="Development mode (TABHOOKS_DEV).")] = False,
    access_log: Annotated[bool, typer.Option("--access-log", help="Log every request.")] = False,
) -> None:
    """Serve only /relay/{route-id} and deliver what it queues (put it behind TLS).

    Example: [bold]tabhooks relay serve --host 0.0.0.0 --port 8443[/]
    """
    refuse_root_json(ctx, "tabhooks relay serve")
    os.environ["TABHOOKS_ROLES"] = "relay"
    serve_module.run(host=host, port=port, dev=dev, access_log=access_log, dispatcher=True)
