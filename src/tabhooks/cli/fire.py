"""``tabhooks fire EVENT``: cause an event for real on a tabhooks server and report delivery.

Unlike ``POST /tabhooks/v1/sites/{site}/events`` (which emits a payload without the action),
fire performs the REST actions that make the event happen (:mod:`tabhooks.cli.actions`), so
it exercises the same path a production event takes. It then reads the delivery log for the
deliveries of that event about that resource, created after the newest delivery it saw
before acting (delivery ids are time-ordered), and waits until each has been tried.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any

import typer

from tabhooks import events
from tabhooks.cli import actions, output, webhooks
from tabhooks.cli.events_cmd import parse_event
from tabhooks.cli.options import DEFAULT, JsonOpt, ProfileOpt, VerboseOpt
from tabhooks.cli.sessions import session
from tabhooks.tableau.client import TableauClient

POLL_S = 0.25
_PAGE = 100


def newest_delivery_id(client: TableauClient) -> str:
    """The id of the site's newest delivery ('' if none): the line after which fire looks."""
    page = client.ext("GET", f"/sites/{client.site_id}/deliveries", params={"limit": "1"})
    return str(page["deliveries"][0]["id"]) if page["deliveries"] else ""


def deliveries_after(
    client: TableauClient, after: str, *, event: str, resource_luid: str
) -> list[dict[str, Any]]:
    """Deliveries newer than ``after`` for ``event`` about ``resource_luid``, oldest first."""
    found: list[dict[str, Any]] = []
    before: str | None = None
    while True:
        params = {"limit": str(_PAGE), **({"before": before} if before else {})}
        page = client.ext("GET", f"/sites/{client.site_id}/deliveries", params=params)
        rows = [r for r in page["deliveries"] if r["id"] > after]
        found.extend(r for r in rows if r["event"] == event and r["resource_luid"] == resource_luid)
        before = page.get("next_before")
        if len(rows) < len(page["deliveries"]) or not before:
            return sorted(found, key=lambda r: r["id"])


def _tried(delivery: dict[str, Any]) -> bool:
    return delivery["status"] in ("succeeded", "failed") or delivery["attempts"] > 0


def wait_for_deliveries(
    client: TableauClient,
    after: str,
    expected: int,
    timeout_s: float,
    *,
    event: str,
    resource_luid: str,
) -> tuple[list[dict[str, Any]], bool]:
    """Poll until ``expected`` deliveries exist and each was tried once; (found, complete)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = deliveries_after(client, after, event=event, resource_luid=resource_luid)
        if len(found) >= expected and all(_tried(d) for d in found):
            return found, True
        if time.monotonic() >= deadline:
            return found, False
        time.sleep(POLL_S)


def failed(delivery: dict[str, Any]) -> bool:
    """Whether a delivery's outcome so far is a failure: failed, or retrying after one."""
    status, attempts = str(delivery["status"]), int(delivery["attempts"])
    return status == "failed" or (attempts > 0 and status != "succeeded")


def succeeded(found: list[dict[str, Any]], complete: bool, wait: float) -> bool:
    """fire's exit status: no delivery failed and, unless told not to wait, all were tried."""
    return not any(failed(d) for d in found) and (complete or wait == 0)


def _default_name(event: events.Event) -> str:
    return f"tabhooks fire {event.name} {uuid.uuid4().hex[:6]}"


def fire(
    event: Annotated[str, typer.Argument(help="The event to cause, in either spelling.")],
    name: Annotated[
        str | None,
        typer.Option("--name", help="Name of the content, user or site the action creates."),
    ] = None,
    wait: Annotated[
        float,
        typer.Option(
            "--wait",
            envvar="TABHOOKS_FIRE_WAIT_S",
            min=0,
            help="Seconds to wait for the deliveries to be tried.",
        ),
    ] = 30.0,
    profile: ProfileOpt = DEFAULT,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Make EVENT happen on a tabhooks server with real REST calls, and report its deliveries.

    WorkbookCreated publishes a tiny workbook; DatasourceRefreshFailed publishes a data source
    whose connection points at a missing file and refreshes it; AdminPromoted adds a user and
    promotes them; and so on for every event in tabhooks events. Created content is left in
    place, as after the real action. Exits 1 when a delivery failed (or is retrying after a
    failed attempt) or was not tried within --wait; the output says which.

    Example: [bold]tabhooks fire DatasourceRefreshFailed --name "Nightly Sales"[/]
    """
    chosen = parse_event(event)
    subject = name or _default_name(chosen)
    with session(profile, verbose, needs_tabhooks=True) as client:
        listening = [
            w for w in webhooks.listing(client) if w["event"] == chosen.name and w["enabled"]
        ]
        after = newest_delivery_id(client)
        with output.errors.status(f"Firing {chosen.name}…"):
            actor = actions.Actor(client, lambda step: output.note(f"  {step}"))
            done = actions.ACTIONS[chosen.name](actor, subject)
        found: list[dict[str, Any]] = []
        complete = True
        if listening:
            with output.errors.status(f"Waiting for {len(listening)} delivery(ies)…"):
                found, complete = wait_for_deliveries(
                    client,
                    after,
                    len(listening),
                    wait,
                    event=chosen.name,
                    resource_luid=done.resource_luid,
                )
    if as_json:
        output.emit_json(
            {
                "event": chosen.name,
                "api_event": chosen.source_element,
                "resource_luid": done.resource_luid,
                "resource_name": done.resource_name,
                "steps": list(done.steps),
                "listening_webhooks": [
                    {"id": w["id"], "name": w["name"], "url": w["url"]} for w in listening
                ],
                "deliveries": found,
                "complete": complete,
            }
        )
    else:
        _report(chosen, done, listening, found, complete, wait)
    if not succeeded(found, complete, wait):
        raise typer.Exit(output.EXIT_ERROR)


def _report(
    event: events.Event,
    done: actions.Performed,
    listening: list[dict[str, Any]],
    found: list[dict[str, Any]],
    complete: bool,
    wait: float,
) -> None:
    output.say(
        "Fired ",
        (event.name, "bold"),
        f" for '{done.resource_name}' ({done.resource_luid}).",
    )
    if not listening:
        output.say(
            ("No enabled webhook listens for ", "yellow"),
            (event.name, "bold yellow"),
            (" on this site, so nothing was delivered.", "yellow"),
        )
        output.note(
            f"Create one: tabhooks webhooks create --name NAME --event {event.name} --url URL"
        )
        return
    output.table(
        None,
        ("webhook", "url", "status", "attempts", "last answer", "delivery"),
        [
            (
                d["webhook_name"],
                d["url"],
                output.status_text(d["status"]),
                d["attempts"],
                output.last_answer(d),
                d["id"],
            )
            for d in found
        ],
        keep=(1, 5),
    )
    if not complete:
        output.note(
            f"Not every delivery was tried within {wait:g} s; follow them with: "
            "tabhooks deliveries tail"
        )
