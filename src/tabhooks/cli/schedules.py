"""``tabhooks schedules``: Tableau Server's schedule methods, for Tableau Server and tabhooks.

Only the standard REST API is used (``/api/{v}/schedules``, and a site's
``/schedules/{id}/extracts`` and ``/tasks/…/runNow``), so it works against Tableau Server too.
Listing, creating, suspending and resuming need a server administrator; ``run`` runs each of
the schedule's tasks on the signed-in site now.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Annotated, Any

import typer

from tabhooks.cli import output
from tabhooks.cli.options import DEFAULT, JsonOpt, ProfileOpt, VerboseOpt
from tabhooks.cli.output import CliError
from tabhooks.cli.sessions import session
from tabhooks.tableau.client import NS, TableauClient, attr, find

app = typer.Typer(
    help="Server schedules: list, create, run now, suspend and resume.", no_args_is_help=True
)

ScheduleArg = Annotated[str, typer.Argument(help="The schedule's id or name.")]
#: ``--every`` spellings and the ``<interval>`` each one sends.
_EVERY = {"15m": ("minutes", "15"), "30m": ("minutes", "30")} | {
    f"{h}h": ("hours", str(h)) for h in (1, 2, 4, 6, 8, 12)
}


def schedule_json(node: ET.Element) -> dict[str, Any]:
    details = node.find("t:frequencyDetails", NS)
    found = details.findall("t:intervals/t:interval", NS) if details is not None else []
    intervals = [dict(i.attrib) for i in found]
    return {
        "id": node.get("id"),
        "name": node.get("name"),
        "type": node.get("type"),
        "state": node.get("state"),
        "priority": node.get("priority"),
        "frequency": node.get("frequency"),
        "execution_order": node.get("executionOrder"),
        "next_run_at": node.get("nextRunAt"),
        "start": attr(details, "start"),
        "end": attr(details, "end"),
        "intervals": intervals,
    }


def listing(client: TableauClient) -> list[dict[str, Any]]:
    root = client.rest("GET", "~/schedules", params={"pageSize": "1000"})
    found = root.findall("t:schedules/t:schedule", NS) if root is not None else []
    return [schedule_json(s) for s in found]


def resolve(client: TableauClient, ref: str) -> dict[str, Any]:
    """A schedule by id, else by name."""
    match = [s for s in listing(client) if ref in (s["id"], s["name"])]
    if not match:
        raise CliError(f"no schedule '{ref}'", hint="List them: tabhooks schedules list")
    return match[0]


def _show(schedule: dict[str, Any], as_json: bool) -> None:
    if as_json:
        output.emit_json(schedule)
        return
    output.fields(
        [
            ("id", schedule["id"]),
            ("name", schedule["name"]),
            ("type", schedule["type"]),
            ("state", schedule["state"]),
            ("frequency", schedule["frequency"]),
            ("next run", schedule["next_run_at"] or "-"),
        ]
    )


@app.command("list")
def list_schedules(
    profile: ProfileOpt = DEFAULT, as_json: JsonOpt = False, verbose: VerboseOpt = False
) -> None:
    """List the server's schedules, soonest next run first (server administrators).

    Example: [bold]tabhooks schedules list[/]
    """
    with session(profile, verbose) as client:
        found = listing(client)
    output.list_items(
        found,
        as_json,
        ("id", "name", "type", "frequency", "state", "next run"),
        lambda s: (
            s["id"],
            s["name"],
            s["type"],
            s["frequency"],
            s["state"],
            s["next_run_at"] or "-",
        ),
        keep=(0, 5),
        empty="No schedules. Create one: tabhooks schedules create --help",
    )


def schedule_element(
    *,
    name: str,
    schedule_type: str,
    frequency: str,
    start: str,
    end: str | None,
    every: str | None,
    days: list[str],
    priority: int,
    execution_order: str,
) -> ET.Element:
    """A Create Schedule body; ``--day`` is a weekday (Weekly, or days of an Hourly or Daily
    schedule) or a month day (Monthly: 1-31 or LastDay)."""
    node = ET.Element(
        "schedule",
        name=name,
        priority=str(priority),
        type=schedule_type,
        frequency=frequency,
        executionOrder=execution_order,
    )
    details = ET.SubElement(node, "frequencyDetails", start=start)
    if end:
        details.set("end", end)
    pairs: list[tuple[str, str]] = []
    if every:
        if every not in _EVERY:
            raise CliError(f"--every must be one of {', '.join(_EVERY)}, not '{every}'")
        pairs.append(_EVERY[every])
    occurrence = "monthDay" if frequency == "Monthly" else "weekDay"
    pairs += [(occurrence, day) for day in days]
    if pairs:
        intervals = ET.SubElement(details, "intervals")
        for key, value in pairs:
            ET.SubElement(intervals, "interval", {key: value})
    return node


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Unique on the server.")],
    frequency: Annotated[
        str, typer.Option("--frequency", help="Hourly, Daily, Weekly or Monthly.")
    ] = "Daily",
    start: Annotated[
        str, typer.Option("--start", help="Time of day HH:MM:SS (TABHOOKS_SCHEDULE_TIMEZONE).")
    ] = "00:00:00",
    end: Annotated[str | None, typer.Option("--end", help="Hourly: when runs stop.")] = None,
    every: Annotated[
        str | None, typer.Option("--every", help="Hourly: 15m, 30m, 1h, 2h, 4h, 6h, 8h or 12h.")
    ] = None,
    day: Annotated[
        list[str] | None,
        typer.Option("--day", help="A weekday (Monday…) or a month day (1-31, LastDay); repeat."),
    ] = None,
    schedule_type: Annotated[
        str, typer.Option("--type", help="Extract, Flow or Subscription.")
    ] = "Extract",
    priority: Annotated[int, typer.Option("--priority", min=1, max=100)] = 50,
    execution_order: Annotated[
        str, typer.Option("--execution-order", help="Parallel or Serial.")
    ] = "Parallel",
    profile: ProfileOpt = DEFAULT,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Create a server schedule (server administrators).

    Example: [bold]tabhooks schedules create nightly --frequency Daily --start 02:00:00[/]
    """
    body = schedule_element(
        name=name,
        schedule_type=schedule_type,
        frequency=frequency,
        start=start,
        end=end,
        every=every,
        days=list(day or []),
        priority=priority,
        execution_order=execution_order,
    )
    with session(profile, verbose) as client:
        created = schedule_json(find(client.rest("POST", "~/schedules", body), "t:schedule"))
    if as_json:
        output.emit_json(created)
        return
    output.say("Created schedule ", (str(created["name"]), "bold"), f" {created['id']}")
    output.note(f"Next run: {created['next_run_at']} (UTC)")


def _set_state(profile: str, verbose: bool, ref: str, state: str, as_json: bool) -> None:
    with session(profile, verbose) as client:
        schedule = resolve(client, ref)
        body = ET.Element("schedule", state=state)
        changed = client.rest("PUT", f"~/schedules/{schedule['id']}", body)
        shown = schedule_json(find(changed, "t:schedule"))
    _show(shown, as_json)


@app.command("suspend")
def suspend(
    schedule: ScheduleArg,
    profile: ProfileOpt = DEFAULT,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Suspend a schedule: it runs nothing until resumed.

    Example: [bold]tabhooks schedules suspend nightly[/]
    """
    _set_state(profile, verbose, schedule, "Suspended", as_json)


@app.command("resume")
def resume(
    schedule: ScheduleArg,
    profile: ProfileOpt = DEFAULT,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Resume a suspended schedule: its next run is its next slot from now.

    Example: [bold]tabhooks schedules resume nightly[/]
    """
    _set_state(profile, verbose, schedule, "Active", as_json)


def _task_ids(client: TableauClient, schedule_id: str) -> list[tuple[str, str]]:
    """(kind, task id) of the schedule's tasks on the signed-in site."""
    extracts = client.rest("GET", f"/schedules/{schedule_id}/extracts")
    found = [
        ("extractRefreshes", e.get("id") or "")
        for e in (extracts.findall("t:extracts/t:extract", NS) if extracts is not None else [])
    ]
    flows = client.rest("GET", "/tasks/runFlow", params={"pageSize": "1000"})
    for task in flows.findall("t:tasks/t:task/t:flowRun", NS) if flows is not None else []:
        schedule = task.find("t:schedule", NS)
        if schedule is not None and schedule.get("id") == schedule_id:
            found.append(("runFlow", task.get("id") or ""))
    return found


@app.command("run")
def run(
    schedule: ScheduleArg,
    profile: ProfileOpt = DEFAULT,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Run every task of a schedule on the signed-in site now (its next run is unchanged).

    Example: [bold]tabhooks schedules run nightly[/]
    """
    with session(profile, verbose) as client:
        chosen = resolve(client, schedule)
        jobs = []
        for kind, task_id in _task_ids(client, str(chosen["id"])):
            answer = client.rest("POST", f"/tasks/{kind}/{task_id}/runNow", b"<tsRequest/>")
            queued = find(answer, "t:job")
            jobs.append(
                {"task_id": task_id, "job_id": queued.get("id"), "type": queued.get("type")}
            )
    if as_json:
        output.emit_json(jobs)
        return
    if not jobs:
        output.say(f"Schedule '{chosen['name']}' has no tasks on this site.")
        return
    for job in jobs:
        output.say(f"Task {job['task_id']}: queued job {job['job_id']} ({job['type']})")
    output.note("Follow them: tabhooks tasks list")
