"""The real REST actions behind each catalog event, for ``tabhooks fire``.

Every event is caused the way a person would cause it — publish, overwrite, delete, refresh
a data source whose connection is broken, change a user's site role, add a data quality
warning, create a site, run a flow — through Tableau's standard methods, so the delivery that
follows is exactly what production would send. :data:`ACTIONS` maps every friendly event name
to one; a test checks that none is missing.
"""

from __future__ import annotations

import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass

from tabhooks.cli import samples
from tabhooks.cli.output import CliError
from tabhooks.tableau.client import NS, TableauClient, find, multipart

#: Longest a refresh or flow run may take before fire gives up on it.
JOB_TIMEOUT_S = 120.0
JOB_POLL_S = 0.2


@dataclass(frozen=True, slots=True)
class Performed:
    """What an action did: the resource the event is about, and a line per step."""

    resource_luid: str
    resource_name: str
    steps: tuple[str, ...]


class Actor:
    """Performs steps on one site and remembers what it did, for the report."""

    def __init__(self, client: TableauClient, on_step: Callable[[str], None]) -> None:
        self.client = client
        self.steps: list[str] = []
        self._on_step = on_step

    def step(self, text: str) -> None:
        self.steps.append(text)
        self._on_step(text)

    def done(self, luid: str, name: str) -> Performed:
        return Performed(luid, name, tuple(self.steps))

    def call(self, method: str, path: str, body: ET.Element | None = None) -> ET.Element | None:
        return self.client.rest(method, path, body)

    def publish(
        self, kind: str, name: str, file_name: str, data: bytes, overwrite: bool = False
    ) -> ET.Element:
        payload = ET.Element("tsRequest")
        ET.SubElement(payload, kind, name=name)
        body, content_type = multipart(ET.tostring(payload), f"tableau_{kind}", file_name, data)
        root = self.client.rest(
            "POST",
            f"/{kind}s",
            body,
            params={"overwrite": "true"} if overwrite else None,
            content_type=content_type,
        )
        self.step(f"{'republished' if overwrite else 'published'} {kind} '{name}' ({len(data)} B)")
        return find(root, f"t:{kind}")

    def workbook(
        self,
        name: str,
        sheets: tuple[str, ...] = ("Sales", "Profit"),
        *,
        broken: bool = False,
        overwrite: bool = False,
    ) -> str:
        data = samples.package(f"{name}.twb", samples.workbook(sheets, broken=broken))
        return self.publish("workbook", name, f"{name}.twbx", data, overwrite).get("id", "")

    def datasource(self, name: str, *, broken: bool = False) -> str:
        node = self.publish(
            "datasource", name, f"{name}.tds", samples.datasource(name, broken=broken)
        )
        return node.get("id", "")

    def wait_job(self, job_id: str, what: str) -> None:
        deadline = time.monotonic() + JOB_TIMEOUT_S
        while time.monotonic() < deadline:
            job = find(self.call("GET", f"/jobs/{job_id}"), "t:job")
            if job.get("completedAt") or job.get("finishCode"):
                notes = job.find(".//t:notes", NS)
                outcome = {"0": "succeeded", "1": "failed", "2": "was cancelled"}.get(
                    job.get("finishCode", ""), "finished"
                )
                detail = f": {notes.text.strip()}" if notes is not None and notes.text else ""
                self.step(f"{what} {outcome}{detail}")
                return
            time.sleep(JOB_POLL_S)
        raise CliError(f"{what} did not finish within {JOB_TIMEOUT_S:.0f} s (job {job_id})")

    def refresh(self, kind: str, content_id: str) -> None:
        job = find(
            self.call("POST", f"/{kind}s/{content_id}/refresh", ET.Element("extractRefresh")),
            "t:job",
        )
        self.step(f"queued an extract refresh (job {job.get('id')})")
        self.wait_job(job.get("id", ""), "the refresh")

    def user(self, name: str, role: str) -> str:
        node = find(
            self.call("POST", "/users", ET.Element("user", name=name, siteRole=role)), "t:user"
        )
        self.step(f"added user '{name}' as {role}")
        return node.get("id", "")

    def set_role(self, user_id: str, name: str, role: str) -> None:
        self.call("PUT", f"/users/{user_id}", ET.Element("user", siteRole=role))
        self.step(f"changed '{name}' to {role}")


Action = Callable[[Actor, str], Performed]


def _user_name(name: str) -> str:
    return name.lower().replace(" ", "-")


def _ds_created(a: Actor, n: str) -> Performed:
    return a.done(a.datasource(n), n)


def _ds_updated(a: Actor, n: str) -> Performed:
    ds = a.datasource(n)
    a.call("PUT", f"/datasources/{ds}", ET.Element("datasource", name=f"{n} v2"))
    a.step(f"renamed the data source to '{n} v2'")
    return a.done(ds, f"{n} v2")


def _ds_deleted(a: Actor, n: str) -> Performed:
    ds = a.datasource(n)
    a.call("DELETE", f"/datasources/{ds}")
    a.step("deleted it")
    return a.done(ds, n)


def _ds_refresh(broken: bool) -> Action:
    def act(a: Actor, n: str) -> Performed:
        ds = a.datasource(n, broken=broken)
        a.refresh("datasource", ds)
        return a.done(ds, n)

    return act


def _wb_created(a: Actor, n: str) -> Performed:
    return a.done(a.workbook(n), n)


def _wb_updated(a: Actor, n: str) -> Performed:
    wb = a.workbook(n)
    a.call("PUT", f"/workbooks/{wb}", ET.Element("workbook", showTabs="true"))
    a.step("changed its showTabs")
    return a.done(wb, n)


def _wb_deleted(a: Actor, n: str) -> Performed:
    wb = a.workbook(n)
    a.call("DELETE", f"/workbooks/{wb}")
    a.step("deleted it")
    return a.done(wb, n)


def _wb_refresh(broken: bool) -> Action:
    def act(a: Actor, n: str) -> Performed:
        wb = a.workbook(n, broken=broken)
        a.refresh("workbook", wb)
        return a.done(wb, n)

    return act


def _view_deleted(a: Actor, n: str) -> Performed:
    wb = a.workbook(n, ("Sales", "Profit"))
    views = a.call("GET", f"/workbooks/{wb}/views")
    found = views.findall("t:views/t:view", NS) if views is not None else []
    profit = next((v.get("id", "") for v in found if v.get("name") == "Profit"), "")
    a.workbook(n, ("Sales",), overwrite=True)
    return a.done(profit, "Profit")


def _role_change(start: str, end: str) -> Action:
    def act(a: Actor, n: str) -> Performed:
        name = _user_name(n)
        user = a.user(name, start)
        a.set_role(user, name, end)
        return a.done(user, name)

    return act


def _user_deleted(a: Actor, n: str) -> Performed:
    name = _user_name(n)
    user = a.user(name, "Viewer")
    a.call("DELETE", f"/users/{user}")
    a.step(f"removed '{name}' from the site")
    return a.done(user, name)


def _label(step: str) -> Action:
    def act(a: Actor, n: str) -> Performed:
        ds = a.datasource(n)
        warning = ET.Element("dataQualityWarning", type="WARNING", isActive="true", message="stale")
        added = find(
            a.call("POST", f"/dataQualityWarnings/datasource/{ds}", warning),
            ".//t:dataQualityWarning",
        )
        a.step("added a data quality warning")
        if step in ("updated", "deleted"):
            warning.set("message", "still stale")
            a.call("PUT", f"/dataQualityWarnings/{added.get('id')}", warning)
            a.step("changed its message")
        if step == "deleted":
            a.call("DELETE", f"/dataQualityWarnings/{added.get('id')}")
            a.step("removed it")
        return a.done(ds, n)

    return act


def _site(step: str) -> Action:
    def act(a: Actor, n: str) -> Performed:
        content_url = "fire" + uuid.uuid4().hex[:10]
        created = a.call("POST", "~/sites", ET.Element("site", name=n, contentUrl=content_url))
        site = find(created, "t:site").get("id", "")
        a.step(f"created site '{n}' ({content_url})")
        name = n
        if step == "updated":
            name = f"{n} renamed"
            a.call("PUT", f"~/sites/{site}", ET.Element("site", name=name))
            a.step(f"renamed it to '{name}'")
        if step == "deleted":
            a.call("DELETE", f"~/sites/{site}")
            a.step("deleted it")
        return a.done(site, name)

    return act


def _flow_completed(a: Actor, n: str) -> Performed:
    flow = a.publish("flow", n, f"{n}.tfl", samples.flow()).get("id", "")
    job = find(a.call("POST", f"/flows/{flow}/run", ET.Element("runFlow")), "t:job")
    a.step(f"ran the flow (job {job.get('id')})")
    a.wait_job(job.get("id", ""), "the flow run")
    return a.done(flow, n)


ACTIONS: dict[str, Action] = {
    "DatasourceRefreshStarted": _ds_refresh(broken=False),
    "DatasourceRefreshSucceeded": _ds_refresh(broken=False),
    "DatasourceRefreshFailed": _ds_refresh(broken=True),
    "DatasourceUpdated": _ds_updated,
    "DatasourceCreated": _ds_created,
    "DatasourceDeleted": _ds_deleted,
    "WorkbookUpdated": _wb_updated,
    "WorkbookCreated": _wb_created,
    "WorkbookDeleted": _wb_deleted,
    "WorkbookRefreshStarted": _wb_refresh(broken=False),
    "WorkbookRefreshSucceeded": _wb_refresh(broken=False),
    "WorkbookRefreshFailed": _wb_refresh(broken=True),
    "ViewDeleted": _view_deleted,
    "AdminPromoted": _role_change("Viewer", "SiteAdministratorCreator"),
    "AdminDemoted": _role_change("SiteAdministratorExplorer", "Explorer"),
    "LabelCreated": _label("created"),
    "LabelUpdated": _label("updated"),
    "LabelDeleted": _label("deleted"),
    "SiteCreated": _site("created"),
    "SiteUpdated": _site("updated"),
    "SiteDeleted": _site("deleted"),
    "UserDeleted": _user_deleted,
    "FlowCompleted": _flow_completed,
}
