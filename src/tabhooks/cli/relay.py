"""``tabhooks relay``: manage relay routes over the HTTP API, and serve the relay role alone.

The management commands talk to a running server's ``/tabhooks/v1/relays`` with httpx, like a
script would, so they work against any tabhooks reachable over the network. They sign in with
``--token`` (an ``X-Tableau-Auth`` token) or ``--username``/``--password``; each option also
reads a ``TABHOOKS_CLI_*`` variable. ``relay serve`` is ``tabhooks serve`` with
``TABHOOKS_ROLES=relay``: only ``/relay/{route-id}`` is answered (see docs/relay.md).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, NoReturn

import httpx
import typer

from tabhooks.cli import serve as serve_module

app = typer.Typer(
    help="Relay Tableau events to Slack, Microsoft Teams, IFTTT or any templated HTTP call.",
    no_args_is_help=True,
)

#: The REST API version used to sign in (any version tabhooks accepts would do).
SIGNIN_API_VERSION = "3.28"
REQUEST_TIMEOUT_S = 30.0

_SERVER = typer.Option(
    "http://127.0.0.1:8000", "--server", envvar="TABHOOKS_CLI_SERVER", help="tabhooks base URL."
)
_TOKEN = typer.Option(None, "--token", envvar="TABHOOKS_CLI_TOKEN", help="X-Tableau-Auth token.")
_USERNAME = typer.Option(None, "--username", envvar="TABHOOKS_CLI_USERNAME", help="Sign in as.")
_PASSWORD = typer.Option(None, "--password", envvar="TABHOOKS_CLI_PASSWORD", help="Password.")
_SITE = typer.Option("", "--site", envvar="TABHOOKS_CLI_SITE", help="Site content URL.")


class _Api:
    """The few calls the relay commands make, with Tableau-shaped errors turned into exits."""

    def __init__(
        self, server: str, token: str | None, username: str | None, password: str | None, site: str
    ) -> None:
        self.base = server.rstrip("/")
        self.http = httpx.Client(timeout=REQUEST_TIMEOUT_S, headers={"Accept": "application/json"})
        if token is None:
            if not username or password is None:
                _fail("Give --token, or --username and --password.")
            token = self._sign_in(username, password, site)
        self.http.headers["X-Tableau-Auth"] = token

    def _sign_in(self, username: str, password: str, site: str) -> str:
        body = {
            "credentials": {"name": username, "password": password, "site": {"contentUrl": site}}
        }
        response = self._send("POST", f"/api/{SIGNIN_API_VERSION}/auth/signin", body)
        return str(response["credentials"]["token"])

    def _send(self, method: str, path: str, body: Any = None) -> Any:
        try:
            response = self.http.request(method, self.base + path, json=body)
        except httpx.HTTPError as exc:
            _fail(f"Cannot reach {self.base}: {exc}")
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
                _fail(f"{error.get('summary', 'Error')}: {error.get('detail', '')}")
            except (ValueError, KeyError, TypeError):
                _fail(f"HTTP {response.status_code}: {response.text[:500]}")
        return response.json() if response.content else None

    def call(self, method: str, path: str, body: Any = None) -> Any:
        return self._send(method, f"/tabhooks/v1/relays{path}", body)


def _fail(message: str) -> NoReturn:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


def _template(value: str | None) -> str | None:
    """``@file`` reads the template from a file, as curl does for bodies."""
    if value and value.startswith("@"):
        return Path(value[1:]).read_text()
    return value


@app.command("add")
def add(
    name: str = typer.Argument(..., help="A name for people."),
    event: list[str] = typer.Option([], "--event", "-e", help="Event to pass on (repeatable)."),
    slack: list[str] = typer.Option([], "--slack", help="Slack incoming webhook URL."),
    teams: list[str] = typer.Option([], "--teams", help="Teams incoming webhook/Workflows URL."),
    ifttt: list[str] = typer.Option([], "--ifttt", help="IFTTT Maker webhook URL."),
    http: list[str] = typer.Option([], "--http", help="Generic HTTP target URL."),
    method: str = typer.Option("POST", "--method", help="Method of the --http targets."),
    header: list[str] = typer.Option([], "--header", "-H", help="'Name: value' for --http."),
    template: str = typer.Option(None, "--template", help="Jinja2 template, or @file."),
    resource_glob: str = typer.Option("", "--resource", help="Glob on the resource name."),
    site_luid: str = typer.Option("", "--site-luid", help="Only events from this site LUID."),
    secret: str = typer.Option(None, "--secret", help="Require X-Tabhooks-Relay-Secret."),
    enrich: bool = typer.Option(False, "--enrich", help="Look resources up for templates."),
    sign: bool = typer.Option(
        False, "--sign", help="Sign --http targets (Standard Webhooks); prints the secret once."
    ),
    enrich_profile: str = typer.Option(
        None, "--enrich-profile", help="Enrich over REST as this login profile (server-side)."
    ),
    enrich_server: str = typer.Option(
        None, "--enrich-server", help="Enrich over REST from this Tableau server URL."
    ),
    enrich_site: str = typer.Option("", "--enrich-site", help="Site content URL there."),
    enrich_pat_name: str = typer.Option(None, "--enrich-pat-name", help="PAT name there."),
    enrich_pat_secret_env: str = typer.Option(
        None, "--enrich-pat-secret-env", help="Variable holding that PAT's secret."
    ),
    server: str = _SERVER,
    token: str = _TOKEN,
    username: str = _USERNAME,
    password: str = _PASSWORD,
    site: str = _SITE,
) -> None:
    """Create a relay route and print its id and inbound URL (give it to a Tableau webhook);
    with --sign, a third column holds the signing secret, shown only this once.

    Example: tabhooks relay add refresh-alerts --event DatasourceRefreshFailed --slack URL
    """
    body_template = _template(template)
    headers = dict(_split_header(h) for h in header)
    targets: list[dict[str, Any]] = [
        {"type": kind, "url": url, "template": body_template}
        for kind, urls in (("slack", slack), ("teams", teams), ("ifttt", ifttt))
        for url in urls
    ]
    targets += [
        {"type": "http", "url": u, "method": method, "headers": headers, "template": body_template}
        for u in http
    ]
    if not targets:
        _fail("Give at least one target: --slack, --teams, --ifttt or --http.")
    enrich_with = _enrich_with(
        enrich_profile, enrich_server, enrich_site, enrich_pat_name, enrich_pat_secret_env
    )
    body = {
        "name": name,
        "events": event,
        "resource_glob": resource_glob,
        "site_luid": site_luid,
        "secret": secret,
        "enrich": enrich or enrich_with is not None,
        "targets": targets,
        "sign": sign or None,
        "enrich_with": enrich_with,
    }
    route = _Api(server, token, username, password, site).call("POST", "", body)
    secret = f"\t{route['signing_secret']}" if route.get("signing_secret") else ""
    typer.echo(f"{route['id']}\t{route['inbound_url']}{secret}")


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
    if not secret:
        _fail("--enrich-server needs --enrich-pat-name and --enrich-pat-secret-env VAR (set).")
    return {"server": server, "site": site, "pat_name": pat_name, "pat_secret": secret}


def _split_header(value: str) -> tuple[str, str]:
    name, sep, rest = value.partition(":")
    if not sep:
        _fail(f"Header '{value}' is not 'Name: value'.")
    return name.strip(), rest.strip()


@app.command("list")
def list_routes(
    as_json: bool = typer.Option(False, "--json", help="Print the API's JSON."),
    server: str = _SERVER,
    token: str = _TOKEN,
    username: str = _USERNAME,
    password: str = _PASSWORD,
    site: str = _SITE,
) -> None:
    """List the site's relay routes.

    Example: tabhooks relay list --json
    """
    routes = _Api(server, token, username, password, site).call("GET", "")["relays"]
    if as_json:
        typer.echo(json.dumps(routes, indent=2))
        return
    for route in routes:
        kinds = ",".join(t["type"] for t in route["targets"])
        events = ",".join(route["events"]) or "*"
        typer.echo(f"{route['id']}\t{route['name']}\t{events}\t{kinds}\t{route['inbound_url']}")


@app.command("remove")
def remove(
    route: str = typer.Argument(..., help="Route id."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    server: str = _SERVER,
    token: str = _TOKEN,
    username: str = _USERNAME,
    password: str = _PASSWORD,
    site: str = _SITE,
) -> None:
    """Delete a relay route (its inbound URL stops working at once).

    Example: tabhooks relay remove ROUTE_ID --yes
    """
    if not yes and not typer.confirm(f"Delete relay route {route}?"):
        raise typer.Exit(1)
    _Api(server, token, username, password, site).call("DELETE", f"/{route}")
    typer.echo(f"Removed {route}")


@app.command("test")
def test(
    route: str = typer.Argument(..., help="Route id."),
    event: str = typer.Option("DatasourceRefreshFailed", "--event", "-e", help="Sample event."),
    server: str = _SERVER,
    token: str = _TOKEN,
    username: str = _USERNAME,
    password: str = _PASSWORD,
    site: str = _SITE,
) -> None:
    """Send a sample event through every target of the route (filters do not apply).

    Example: tabhooks relay test ROUTE_ID --event DatasourceRefreshFailed
    """
    result = _Api(server, token, username, password, site).call(
        "POST", f"/{route}/test", {"event": event}
    )
    typer.echo(f"Queued {result['queued']} message(s): {', '.join(result['delivery_ids'])}")
    for delivery_id, error in result["errors"].items():
        typer.secho(f"{delivery_id}: {error}", fg=typer.colors.RED, err=True)
    if result["errors"]:
        raise typer.Exit(1)


@app.command("serve")
def serve(
    host: str = typer.Option(None, "--host", envvar="TABHOOKS_HOST", help="Listen address."),
    port: int = typer.Option(None, "--port", envvar="TABHOOKS_PORT", help="Port; 0 = any."),
    dev: bool = typer.Option(False, "--dev", envvar="TABHOOKS_DEV", help="Development mode."),
    access_log: bool = typer.Option(False, "--access-log", help="Log every request."),
) -> None:
    """Serve only /relay/{route-id} and deliver what it queues (put it behind TLS).

    Example: tabhooks relay serve --host 0.0.0.0 --port 8443
    """
    os.environ["TABHOOKS_ROLES"] = "relay"
    serve_module.serve(host=host, port=port, dev=dev, access_log=access_log, dispatcher=True)


if __name__ == "__main__":  # `python -m tabhooks.cli.relay` until cli/main.py registers it
    app()
