"""``tabhooks tasks``: a site's extract refresh and flow run tasks (Tableau's task methods).

Standard REST API only (``/api/{v}/sites/{site}/tasks/extractRefreshes`` and ``/runFlow``), so
it works against Tableau Server and Cloud too. Administrators see every task of the site;
others the tasks of the content they own.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Annotated, Any

import typer

from tabhooks.cli import output
from tabhooks.cli.options import DEFAULT, JsonOpt, ProfileOpt, VerboseOpt
from tabhooks.cli.sessions import session
from tabhooks.tableau.client import NS, TableauClient, attr, find

app = typer.Typer(help="A site's refresh and flow tasks: list, run now.", no_args_is_help=True)

#: URL segment and element of each kind of task.
_KINDS = {"extractRefreshes": "extractRefresh", "runFlow": "flowRun"}
KindOpt = Annotated[
    str,
    typer.Option("--kind", help="extractRefreshes (refreshes) or runFlow (flow runs)."),
]


def task_json(node: ET.Element) -> dict[str, Any]:
    schedule = node.find("t:schedule", NS)
    target = next(
        (c for c in node if c.tag.split("}")[-1] in ("workbook", "datasource", "flow")), None
    )
    last = node.find("t:lastRunAt", NS)
    return {
        "id": node.get("id"),
        "type": node.get("type"),
        "priority": node.get("priority"),
        "consecutive_failed_count": node.get("consecutiveFailedCount"),
        "schedule_id": attr(schedule, "id"),
        "schedule_name": attr(schedule, "name"),
        "next_run_at": attr(schedule, "nextRunAt"),
        "target_type": target.tag.split("}")[-1] if target is not None else None,
        "target_id": attr(target, "id"),
        "target_name": attr(target, "name"),
        "last_run_at": last.text if last is not None else None,
    }


def listing(client: TableauClient, kind: str) -> list[dict[str, Any]]:
    root = client.rest("GET", f"/tasks/{kind}", params={"pageSize": "1000"})
    path = f"t:tasks/t:task/t:{_KINDS[kind]}"
    return [task_json(t) for t in (root.findall(path, NS) if root is not None else [])]


def _check_kind(kind: str) -> None:
    if kind not in _KINDS:
        raise typer.BadParameter(f"must be one of {', '.join(_KINDS)}", param_hint="--kind")


@app.command("list")
def list_tasks(
    kind: KindOpt = "extractRefreshes",
    profile: ProfileOpt = DEFAULT,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """List the site's tasks with their schedule and next run.

    Example: [bold]tabhooks tasks list --kind runFlow[/]
    """
    _check_kind(kind)
    with session(profile, verbose) as client:
        found = listing(client, kind)
    output.list_items(
        found,
        as_json,
        ("id", "target", "schedule", "next run", "last run", "failed"),
        lambda t: (
            t["id"],
            f"{t['target_type']} {t['target_name'] or t['target_id']}",
            t["schedule_name"] or "(its own)",
            t["next_run_at"] or "-",
            t["last_run_at"] or "-",
            t["consecutive_failed_count"],
        ),
        keep=(0, 3),
        empty="No tasks. Add content to a schedule, or create a task with its own.",
    )


@app.command("run")
def run(
    task: Annotated[str, typer.Argument(help="The task's id.")],
    kind: KindOpt = "extractRefreshes",
    profile: ProfileOpt = DEFAULT,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Run a task now: the same refresh (or flow run) its schedule starts, as a job.

    Example: [bold]tabhooks tasks run 0b9b6a2e-…[/]
    """
    _check_kind(kind)
    with session(profile, verbose) as client:
        answer = client.rest("POST", f"/tasks/{kind}/{task}/runNow", b"<tsRequest/>")
        job = find(answer, "t:job")
    found = {"job_id": job.get("id"), "type": job.get("type")}
    if as_json:
        output.emit_json(found)
        return
    output.say(f"Queued job {found['job_id']} ({found['type']})")
