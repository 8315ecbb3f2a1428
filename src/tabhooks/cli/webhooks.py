"""``tabhooks webhooks``: Tableau's webhook methods, for Tableau Cloud, Server and tabhooks.

Only the standard REST API is used (XML, ``/api/{v}/sites/{site}/webhooks``), so nothing here
depends on tabhooks. Events go out as ``event="..."`` from API 3.9 (Tableau's current form)
and as the ``<webhook-source>`` element before it. An update sends the webhook's full
definition, merged with the changes, because Tableau documents ``name`` (and in practice the
destination) as required on Update.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Annotated, Any

import typer

from tabhooks import events
from tabhooks.cli import output
from tabhooks.cli.events_cmd import parse_event
from tabhooks.cli.options import DEFAULT, JsonOpt, ProfileOpt, VerboseOpt, YesOpt, require_yes
from tabhooks.cli.output import CliError
from tabhooks.cli.sessions import require_version, session
from tabhooks.tableau.client import NS, TableauClient, attr, find, version_tuple

app = typer.Typer(help="Create, list, change, test and delete webhooks.", no_args_is_help=True)

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
#: The API version from which Create and Update take ``event="..."``.
EVENT_ATTRIBUTE_VERSION = "3.9"
UPDATE_MIN_VERSION = "3.8"

WebhookArg = Annotated[str, typer.Argument(help="The webhook's id, or its name.")]


def webhook_json(node: ET.Element) -> dict[str, Any]:
    """A ``<webhook>`` as the CLI's stable JSON shape."""
    source = node.find("t:webhook-source", NS)
    api_event = source[0].tag.rsplit("}", 1)[-1] if source is not None and len(source) else None
    known = events.find(node.get("event") or api_event or "")
    http = node.find("t:webhook-destination/t:webhook-destination-http", NS)
    owner = node.find("t:owner", NS)
    return {
        "id": node.get("id"),
        "name": node.get("name"),
        "event": known.name if known else node.get("event") or api_event,
        "api_event": known.source_element if known else api_event,
        "url": attr(http, "url"),
        "method": attr(http, "method"),
        "enabled": (node.get("isEnabled") or "true").lower() == "true",
        "status_change_reason": node.get("statusChangeReason") or "",
        "owner_id": attr(owner, "id"),
        "owner_name": attr(owner, "name"),
        "created_at": node.get("createdAt"),
        "updated_at": node.get("updatedAt"),
    }


def webhook_element(
    client: TableauClient,
    *,
    name: str,
    event: events.Event,
    url: str,
    enabled: bool | None = None,
    reason: str | None = None,
) -> ET.Element:
    node = ET.Element("webhook", name=name)
    if version_tuple(client.api_version) >= version_tuple(EVENT_ATTRIBUTE_VERSION):
        node.set("event", event.name)
    else:
        ET.SubElement(ET.SubElement(node, "webhook-source"), event.source_element)
    if enabled is not None:
        node.set("isEnabled", "true" if enabled else "false")
    if reason:
        node.set("statusChangeReason", reason)
    destination = ET.SubElement(node, "webhook-destination")
    ET.SubElement(destination, "webhook-destination-http", method="POST", url=url)
    return node


def listing(client: TableauClient) -> list[dict[str, Any]]:
    root = client.rest("GET", "/webhooks")
    nodes = root.findall("t:webhooks/t:webhook", NS) if root is not None else []
    return [webhook_json(n) for n in nodes]


def resolve(client: TableauClient, ref: str) -> dict[str, Any]:
    """The webhook ``ref`` names: an id (one GET) or a name (exact, then any case)."""
    if _UUID.match(ref):
        return webhook_json(find(client.rest("GET", f"/webhooks/{ref}"), "t:webhook"))
    found = listing(client)
    match = [w for w in found if w["name"] == ref] or [
        w for w in found if str(w["name"]).lower() == ref.lower()
    ]
    if len(match) != 1:
        raise CliError(
            f"no webhook with the id or name '{ref}' on this site",
            hint="List them with: tabhooks webhooks list",
        )
    return match[0]


def _show(hook: dict[str, Any], as_json: bool) -> None:
    if as_json:
        output.emit_json(hook)
        return
    state = "enabled" if hook["enabled"] else f"disabled ({hook['status_change_reason']})"
    output.fields(
        [
            ("id", hook["id"]),
            ("name", hook["name"]),
            ("event", f"{hook['event']} ({hook['api_event']})"),
            ("url", hook["url"]),
            ("state", state),
            ("owner", hook["owner_name"] or hook["owner_id"]),
            ("created", hook["created_at"]),
            ("updated", hook["updated_at"]),
        ]
    )


@app.command("list")
def list_webhooks(
    profile: ProfileOpt = DEFAULT, as_json: JsonOpt = False, verbose: VerboseOpt = False
) -> None:
    """List the site's webhooks.

    Example: [bold]tabhooks webhooks list --json[/]
    """
    with session(profile, verbose) as client:
        found = listing(client)
    output.list_items(
        found,
        as_json,
        ("id", "name", "event", "url", "enabled"),
        lambda w: (
            w["id"],
            w["name"],
            w["event"],
            w["url"],
            "yes" if w["enabled"] else f"no: {w['status_change_reason']}",
        ),
        keep=(0, 3),
        empty="No webhooks on this site. Create one: tabhooks webhooks create --help",
    )


@app.command("get")
def get_webhook(
    webhook: WebhookArg,
    profile: ProfileOpt = DEFAULT,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Show one webhook.

    Example: [bold]tabhooks webhooks get my-webhook[/]
    """
    with session(profile, verbose) as client:
        _show(resolve(client, webhook), as_json)


@app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="Unique on the site.")],
    event: Annotated[str, typer.Option("--event", help="Either spelling: tabhooks events.")],
    url: Annotated[str, typer.Option("--url", help="Where to POST (https://, public).")],
    profile: ProfileOpt = DEFAULT,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Create a webhook that POSTs EVENT's payload to URL.

    Example: [bold]tabhooks webhooks create --name my-webhook --event WorkbookCreated --url https://example.com/hook[/]
    """
    chosen = parse_event(event, "--event")
    with session(profile, verbose) as client:
        require_version(client, "3.6", "Creating webhooks")
        body = webhook_element(client, name=name, event=chosen, url=url)
        hook = webhook_json(find(client.rest("POST", "/webhooks", body), "t:webhook"))
    if as_json:
        output.emit_json(hook)
        return
    output.say("Created webhook ", (str(hook["name"]), "bold"), f" {hook['id']}")
    output.note(f"Try it: tabhooks webhooks test {hook['id']}")


def _update(
    profile: str,
    verbose: bool,
    ref: str,
    *,
    name: str | None = None,
    event: events.Event | None = None,
    url: str | None = None,
    enabled: bool | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    with session(profile, verbose) as client:
        require_version(client, UPDATE_MIN_VERSION, "Updating webhooks")
        current = resolve(client, ref)
        known = event or events.find(str(current["event"] or ""))
        if known is None:
            raise CliError(f"the webhook's event '{current['event']}' is not in the catalog")
        body = webhook_element(
            client,
            name=name or str(current["name"]),
            event=known,
            url=url or str(current["url"]),
            enabled=enabled,
            reason=reason,
        )
        root = client.rest("PUT", f"/webhooks/{current['id']}", body)
        return webhook_json(find(root, "t:webhook"))


@app.command("update")
def update(
    webhook: WebhookArg,
    name: Annotated[str | None, typer.Option("--name", help="New name.")] = None,
    event: Annotated[str | None, typer.Option("--event", help="New event.")] = None,
    url: Annotated[str | None, typer.Option("--url", help="New destination.")] = None,
    profile: ProfileOpt = DEFAULT,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Change a webhook's name, event or destination (what is not given is kept).

    Example: [bold]tabhooks webhooks update my-webhook --event DatasourceRefreshFailed[/]
    """
    if name is None and event is None and url is None:
        raise typer.BadParameter(
            "give at least one of --name, --event, --url", param_hint="options"
        )
    chosen = parse_event(event, "--event") if event is not None else None
    hook = _update(profile, verbose, webhook, name=name, event=chosen, url=url)
    _show(hook, as_json)


@app.command("enable")
def enable(
    webhook: WebhookArg,
    profile: ProfileOpt = DEFAULT,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Enable a webhook (new events are delivered again).

    Example: [bold]tabhooks webhooks enable my-webhook[/]
    """
    hook = _update(profile, verbose, webhook, enabled=True)
    if as_json:
        _show(hook, as_json)
    else:
        output.say(f"Enabled {hook['name']} ({hook['id']}).")


@app.command("disable")
def disable(
    webhook: WebhookArg,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Shown as statusChangeReason.")
    ] = None,
    profile: ProfileOpt = DEFAULT,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Disable a webhook, optionally saying why.

    Example: [bold]tabhooks webhooks disable my-webhook --reason "receiver maintenance"[/]
    """
    hook = _update(profile, verbose, webhook, enabled=False, reason=reason)
    if as_json:
        _show(hook, as_json)
    else:
        output.say(f"Disabled {hook['name']} ({hook['id']}): {hook['status_change_reason']}")


@app.command("delete")
def delete(
    webhook: WebhookArg,
    yes: YesOpt = False,
    profile: ProfileOpt = DEFAULT,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Delete a webhook (needs --yes).

    Example: [bold]tabhooks webhooks delete my-webhook --yes[/]
    """
    require_yes(yes, "Deleting a webhook")
    with session(profile, verbose) as client:
        hook = resolve(client, webhook)
        client.rest("DELETE", f"/webhooks/{hook['id']}")
    if as_json:
        output.emit_json({"deleted": hook["id"], "name": hook["name"]})
    else:
        output.say(f"Deleted {hook['name']} ({hook['id']}).")


@app.command("test")
def test(
    webhook: WebhookArg,
    profile: ProfileOpt = DEFAULT,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Send a test POST (an empty payload) to the webhook's URL and show the answer.

    Exits 1 unless the destination answered 2xx (with --json too; the JSON says what came).

    Example: [bold]tabhooks webhooks test my-webhook[/]
    """
    with session(profile, verbose) as client:
        hook = resolve(client, webhook)
        root = client.rest("GET", f"/webhooks/{hook['id']}/test")
        result = find(root, "t:webhookTestResult")
        body = result.find("t:body", NS)
    status = result.get("status")
    data = {
        "id": hook["id"],
        "name": hook["name"],
        "url": hook["url"],
        "status": int(status) if status and status.isdigit() else status,
        "body": (body.text or "") if body is not None else "",
    }
    ok = isinstance(data["status"], int) and 200 <= data["status"] < 300
    if as_json:
        output.emit_json(data)
    else:
        output.say(
            f"{hook['url']} answered ",
            (str(data["status"]), "green" if ok else "red"),
            f": {data['body'][:500]}" if data["body"] else "",
        )
    if not ok:
        raise typer.Exit(output.EXIT_ERROR)
