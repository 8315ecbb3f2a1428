"""``tabhooks deliveries``: tabhooks' delivery log — list, show, redeliver, recover, tail.

Tableau keeps no delivery log, so these read ``/tabhooks/v1/sites/{site}/deliveries`` and
need a tabhooks server. JSON output is the API's own delivery objects, whose keys are the
documented contract. ``tail`` prints a line whenever a delivery appears or changes state
(queued, tried, retried, succeeded, failed), including redeliveries of old ones.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from tabhooks.cli import output, polling, webhooks
from tabhooks.cli.events_cmd import parse_event
from tabhooks.cli.options import DEFAULT, JsonOpt, PollOpt, ProfileOpt, VerboseOpt
from tabhooks.cli.sessions import session
from tabhooks.tableau.client import TableauClient

app = typer.Typer(
    help="The delivery log (tabhooks servers): list, show, redeliver, recover, tail.",
    no_args_is_help=True,
)

DeliveryArg = Annotated[str, typer.Argument(help="The delivery id (msg_…).")]
WebhookOpt = Annotated[
    str | None, typer.Option("--webhook", help="Only this webhook's (id or name).")
]
WaitOpt = Annotated[
    float,
    typer.Option(
        "--wait",
        envvar="TABHOOKS_DELIVERY_WAIT_S",
        min=0,
        help="Seconds to wait for the new attempts (0: do not wait).",
    ),
]
_PAGE = 100
_HINTS = {"404003": "List the site's deliveries with: tabhooks deliveries list"}
_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
#: Deliveries whose last state tail remembers (pruned oldest first).
_TRACKED_MAX = 5000


def _path(client: TableauClient, suffix: str = "") -> str:
    return f"/sites/{client.site_id}/deliveries{suffix}"


def parse_since(value: str) -> datetime:
    """``30m``, ``2h``, ``1d`` ago, or an ISO 8601 timestamp (UTC unless it says otherwise)."""
    match = _DURATION.match(value.strip())
    if match:
        amount, unit = int(match.group(1)), _UNITS[match.group(2)]
        return datetime.now(UTC) - timedelta(**{unit: amount})
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"'{value}' is neither a duration (30m, 2h, 1d) nor an ISO timestamp",
            param_hint="--since",
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@app.command("list")
def list_deliveries(
    webhook: WebhookOpt = None,
    status: Annotated[
        str | None,
        typer.Option("--status", help="pending, delivering, succeeded or failed."),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Created since: 30m, 2h, 1d or ISO time.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500, help="At most this many.")] = 50,
    profile: ProfileOpt = DEFAULT,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """List deliveries, newest first.

    Example: [bold]tabhooks deliveries list --status failed --since 1d[/]
    """
    if status is not None and status not in ("pending", "delivering", "succeeded", "failed"):
        raise typer.BadParameter("pending, delivering, succeeded or failed", param_hint="--status")
    params = {"limit": str(limit)}
    if status:
        params["status"] = status
    if since:
        params["since"] = parse_since(since).isoformat()
    with session(profile, verbose, needs_tabhooks=True, hints=_HINTS) as client:
        if webhook:
            params["webhook_id"] = str(webhooks.resolve(client, webhook)["id"])
        found = client.ext("GET", _path(client), params=params)["deliveries"]
    output.list_items(
        found,
        as_json,
        ("created", "delivery", "webhook", "event", "resource", "status", "tries", "last"),
        lambda d: (
            output.local_time(d["created_at"]),
            d["id"],
            d["webhook_name"],
            d["event"],
            d["resource_name"],
            output.status_text(d["status"]),
            d["attempts"],
            output.last_answer(d),
        ),
        keep=(1,),
    )


@app.command("show")
def show(
    delivery: DeliveryArg,
    profile: ProfileOpt = DEFAULT,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Show one delivery: its payload and every attempt with the destination's answer.

    Example: [bold]tabhooks deliveries show msg_01JD3W0V9D1C3AX4YQ2M8K7Z5R[/]
    """
    with session(profile, verbose, needs_tabhooks=True, hints=_HINTS) as client:
        found = client.ext("GET", _path(client, f"/{delivery}"))
    if as_json:
        output.emit_json(found)
        return
    output.fields(
        [
            ("delivery", found["id"]),
            ("webhook", f"{found['webhook_name']} ({found['webhook_id']})"),
            ("url", found["url"]),
            ("event", found["event"]),
            (
                "resource",
                f"{found['resource']} '{found['resource_name']}' {found['resource_luid']}",
            ),
            ("status", found["status"]),
            ("created", found["created_at"]),
            ("completed", found["completed_at"]),
            ("next attempt", found["next_attempt_at"]),
        ]
    )
    output.say(("payload", "bold"))
    output.json_block(found["payload"])
    output.table(
        "attempts",
        ("#", "started", "ms", "answer", "response body"),
        [
            (
                a["number"],
                a["started_at"],
                f"{a['duration_ms']:.0f}",
                f"HTTP {a['status_code']}"
                if a["status_code"] is not None
                else f"{a['error']}: {a['detail']}",
                a["response_body"][:200],
            )
            for a in found["attempt_log"]
        ],
        keep=(0, 1),
    )


@app.command("redeliver")
def redeliver(
    delivery: DeliveryArg,
    wait: WaitOpt = 15.0,
    profile: ProfileOpt = DEFAULT,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Send a finished delivery again (same webhook-id, so receivers can de-duplicate).

    Waits for the new attempt and prints its outcome (--wait 0 returns at once).

    Example: [bold]tabhooks deliveries redeliver msg_01JD3W0V9D1C3AX4YQ2M8K7Z5R[/]
    """
    with session(profile, verbose, needs_tabhooks=True, hints=_HINTS) as client:
        before = client.ext("GET", _path(client, f"/{delivery}"))
        client.ext("POST", _path(client, f"/{delivery}/redeliver"))
        current = before
        deadline = time.monotonic() + wait
        with output.errors.status("Redelivering…"):
            while time.monotonic() < deadline:
                current = client.ext("GET", _path(client, f"/{delivery}"))
                if current["attempts"] > before["attempts"] and current["status"] != "delivering":
                    break
                time.sleep(0.2)
    if as_json:
        output.emit_json(current)
        return
    output.say(
        f"Redelivered {delivery} to {current['url']}: ",
        output.status_text(current["status"]),
        f" ({output.last_answer(current)}, attempt {current['attempts']})"
        if current["attempts"] > before["attempts"]
        else " (queued; not tried yet)",
    )


def _failed_since(client: TableauClient, since: datetime) -> dict[str, int]:
    """Ids (and attempt counts) of the deliveries a recover will queue again."""
    found: dict[str, int] = {}
    before: str | None = None
    while True:
        params = {"status": "failed", "since": since.isoformat(), "limit": str(_PAGE)}
        if before:
            params["before"] = before
        page = client.ext("GET", _path(client), params=params)
        found.update((d["id"], d["attempts"]) for d in page["deliveries"])
        before = page.get("next_before")
        if not before:
            return found


@app.command("recover")
def recover(
    since: Annotated[str, typer.Option("--since", help="Failed since: 30m, 2h, 1d or ISO time.")],
    wait: WaitOpt = 60.0,
    profile: ProfileOpt = DEFAULT,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Queue again every delivery that failed since a moment, and follow them with a progress bar.

    Typically after re-enabling a webhook that was disabled automatically.

    Example: [bold]tabhooks deliveries recover --since 2h[/]
    """
    moment = parse_since(since)
    with session(profile, verbose, needs_tabhooks=True, hints=_HINTS) as client:
        targets = _failed_since(client, moment)
        queued = client.ext("POST", _path(client, "/recover"), {"since": moment.isoformat()})
        outcome = _follow_recovery(client, targets, wait)
    result = {"since": moment.isoformat(), "queued": queued["queued"], **outcome}
    if as_json:
        output.emit_json(result)
        return
    output.say(
        f"Queued {result['queued']} failed deliveries again: {result['succeeded']} succeeded, "
        f"{result['failed']} failed, {result['pending']} still pending."
    )


def _follow_recovery(client: TableauClient, targets: dict[str, int], wait: float) -> dict[str, int]:
    """Wait (with a progress bar) until each recovered delivery was tried again."""
    states: dict[str, str] = dict.fromkeys(targets, "pending")
    deadline = time.monotonic() + wait
    progress = Progress(
        TextColumn("recovering"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=output.errors,
        transient=True,
    )
    with progress:
        task = progress.add_task("recover", total=len(targets))
        waiting = set(targets)
        while waiting and time.monotonic() < deadline:
            for delivery_id in sorted(waiting):
                now = client.ext("GET", _path(client, f"/{delivery_id}"))
                if now["attempts"] > targets[delivery_id] and now["status"] != "delivering":
                    states[delivery_id] = "succeeded" if now["status"] == "succeeded" else "failed"
                    waiting.discard(delivery_id)
                    progress.advance(task)
            if waiting:
                time.sleep(0.5)
    counts = {"succeeded": 0, "failed": 0, "pending": 0}
    for state in states.values():
        counts[state] += 1
    return counts


def tail_line(d: dict[str, Any]) -> Text:
    state = d["status"]
    if state == "pending" and d["attempts"]:
        state = f"retrying at {output.local_time(d['next_attempt_at'])}"
    return output.line(
        (datetime.now().strftime("%H:%M:%S"), "dim"),
        f"  {d['id']}  ",
        (str(d["event"]), "bold"),
        f" '{d['resource_name']}' -> {d['webhook_name']}  ",
        output.status_text(d["status"]) if state == d["status"] else (state, "yellow"),
        f"  tries {d['attempts']}  {output.last_answer(d) if d['attempts'] else ''}".rstrip(),
    )


def _snapshot(
    client: TableauClient, params: dict[str, str], inflight: set[str]
) -> list[dict[str, Any]]:
    """The newest deliveries, everything queued or being delivered, and what just left that."""
    rows: dict[str, dict[str, Any]] = {}
    for extra in ({}, {"status": "pending"}, {"status": "delivering"}):
        page = client.ext("GET", _path(client), params={**params, **extra, "limit": str(_PAGE)})
        rows.update((d["id"], d) for d in page["deliveries"])
    for delivery_id in inflight - rows.keys():
        rows[delivery_id] = client.ext("GET", _path(client, f"/{delivery_id}"))
    return sorted(rows.values(), key=lambda d: d["id"])


@app.command("tail")
def tail(
    webhook: WebhookOpt = None,
    event: Annotated[str | None, typer.Option("--event", help="Only this event's.")] = None,
    interval: PollOpt = polling.INTERVAL_S,
    profile: ProfileOpt = DEFAULT,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Print deliveries as they happen — queued, tried, retried, done — until Ctrl-C.

    With --json, one delivery object per line, each time one changes.

    Example: [bold]tabhooks deliveries tail --event DatasourceRefreshFailed[/]
    """
    wanted = parse_event(event, "--event").name if event else None
    with (
        session(profile, verbose, needs_tabhooks=True, hints=_HINTS) as client,
        polling.until_signalled() as stop,
    ):
        params = {"webhook_id": str(webhooks.resolve(client, webhook)["id"])} if webhook else {}
        known: dict[str, tuple[str, int]] = {}
        inflight: set[str] = set()
        first = True
        while not stop.is_set:
            for d in _snapshot(client, params, inflight):
                state = (d["status"], d["attempts"])
                if known.get(d["id"]) == state:
                    continue
                known[d["id"]] = state
                inflight.discard(d["id"])
                if d["status"] in ("pending", "delivering"):
                    inflight.add(d["id"])
                if first or (wanted and d["event"] != wanted):
                    continue
                if as_json:
                    output.emit_json_line(d)
                else:
                    output.console.print(tail_line(d), soft_wrap=True)
            if len(known) > _TRACKED_MAX:
                known = dict(sorted(known.items())[-_TRACKED_MAX:])
            if first:  # announced once the baseline is taken, so nothing after it is missed
                output.note("Following deliveries (Ctrl-C to stop)")
                first = False
            stop.sleep(interval)
