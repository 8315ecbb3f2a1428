"""Every catalog event fires from the real REST action(s) that cause it, exactly once, with the
right payload — the table the issue asks for, one row per event."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tabhooks import events
from tests.support.receiver import Receiver
from tests.support.server import ServerProcess
from tests.support.tableau_samples import connection_xml, datasource_xml, package, workbook_xml

NS = {"t": "http://tableau.com/api"}


@dataclass
class Rest:
    """The admin's REST session plus helpers to publish and act."""

    server: ServerProcess
    token: str
    site_id: str
    tmp: Path

    @property
    def site(self) -> str:
        return f"{self.server.api()}/sites/{self.site_id}"

    def call(self, method: str, path: str, body: str | None = None) -> ET.Element:
        response = httpx.request(
            method,
            f"{self.site}{path}" if not path.startswith("http") else path,
            content=body,
            headers={"X-Tableau-Auth": self.token},
            timeout=30,
        )
        assert response.status_code < 300, f"{method} {path}: {response.text}"
        return ET.fromstring(response.content) if response.content else ET.Element("empty")

    def publish(
        self, kind: str, name: str, file_name: str, data: bytes, overwrite: bool = False
    ) -> str:
        boundary = uuid.uuid4().hex
        payload = f'<tsRequest><{kind} name="{name}"/></tsRequest>'
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: name="request_payload"\r\n'
                f"Content-Type: text/xml\r\n\r\n{payload}\r\n"
                f'--{boundary}\r\nContent-Disposition: name="tableau_{kind}"; filename="{file_name}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + data
            + f"\r\n--{boundary}--\r\n".encode()
        )
        response = httpx.post(
            f"{self.site}/{kind}s",
            params={"overwrite": "true"} if overwrite else None,
            content=body,
            headers={
                "X-Tableau-Auth": self.token,
                "Content-Type": f"multipart/mixed; boundary={boundary}",
            },
            timeout=30,
        )
        assert response.status_code == 201, response.text
        return ET.fromstring(response.content).find(f"t:{kind}", NS).get("id")

    def workbook(
        self,
        name: str,
        sheets: tuple[str, ...] = ("Sales", "Profit"),
        *,
        missing_file: bool = False,
        overwrite: bool = False,
    ) -> str:
        target = self.tmp / ("missing.db" if missing_file else "present.db")
        if not missing_file and not target.exists():
            sqlite3.connect(target).close()
        xml = workbook_xml(connection_xml("sqlite", filename=str(target)), sheets)
        return self.publish(
            "workbook", name, f"{name}.twbx", package(f"{name}.twb", xml), overwrite
        )

    def datasource(self, name: str, *, missing_file: bool = False) -> str:
        target = self.tmp / ("missing.db" if missing_file else "present.db")
        if not missing_file and not target.exists():
            sqlite3.connect(target).close()
        return self.publish(
            "datasource",
            name,
            f"{name}.tds",
            datasource_xml(connection_xml("sqlite", filename=str(target))),
        )

    def refresh(self, kind: str, content_id: str) -> None:
        job = (
            self.call("POST", f"/{kind}s/{content_id}/refresh", "<tsRequest/>")
            .find("t:job", NS)
            .get("id")
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = self.call("GET", f"/jobs/{job}").find("t:job", NS)
            if found.get("completedAt"):
                return
            time.sleep(0.1)
        raise AssertionError("refresh did not finish")

    def user(self, name: str, role: str = "Viewer") -> str:
        body = f'<tsRequest><user name="{name}" siteRole="{role}"/></tsRequest>'
        return self.call("POST", "/users", body).find("t:user", NS).get("id")


# Each action returns (resource_luid, resource_name, resource) of the occurrence expected.
Action = Callable[[Rest, str], tuple[str, str, str]]


def _ds_updated(r: Rest, n: str) -> tuple[str, str, str]:
    ds = r.datasource(n)
    r.call("PUT", f"/datasources/{ds}", f'<tsRequest><datasource name="{n} v2"/></tsRequest>')
    return ds, f"{n} v2", "DATASOURCE"


def _ds_deleted(r: Rest, n: str) -> tuple[str, str, str]:
    ds = r.datasource(n)
    r.call("DELETE", f"/datasources/{ds}")
    return ds, n, "DATASOURCE"


def _ds_refresh(missing: bool) -> Action:
    def act(r: Rest, n: str) -> tuple[str, str, str]:
        ds = r.datasource(n, missing_file=missing)
        r.refresh("datasource", ds)
        return ds, n, "EXTRACTS"

    return act


def _wb_refresh(missing: bool) -> Action:
    def act(r: Rest, n: str) -> tuple[str, str, str]:
        wb = r.workbook(n, missing_file=missing)
        r.refresh("workbook", wb)
        return wb, n, "EXTRACTS"

    return act


def _wb_updated(r: Rest, n: str) -> tuple[str, str, str]:
    wb = r.workbook(n)
    r.call("PUT", f"/workbooks/{wb}", '<tsRequest><workbook showTabs="true"/></tsRequest>')
    return wb, n, "WORKBOOK"


def _wb_deleted(r: Rest, n: str) -> tuple[str, str, str]:
    wb = r.workbook(n)
    r.call("DELETE", f"/workbooks/{wb}")
    return wb, n, "WORKBOOK"


def _view_deleted(r: Rest, n: str) -> tuple[str, str, str]:
    wb = r.workbook(n, ("Sales", "Profit"))
    views = r.call("GET", f"/workbooks/{wb}/views").findall("t:views/t:view", NS)
    profit = next(v.get("id") for v in views if v.get("name") == "Profit")
    r.workbook(n, ("Sales",), overwrite=True)
    return profit, "Profit", "VIEW"


def _role_change(start: str, end: str) -> Action:
    def act(r: Rest, n: str) -> tuple[str, str, str]:
        user = r.user(n.lower().replace(" ", "-"), start)
        r.call("PUT", f"/users/{user}", f'<tsRequest><user siteRole="{end}"/></tsRequest>')
        return user, n.lower().replace(" ", "-"), "USER"

    return act


def _user_deleted(r: Rest, n: str) -> tuple[str, str, str]:
    name = n.lower().replace(" ", "-")
    user = r.user(name)
    r.call("DELETE", f"/users/{user}")
    return user, name, "USER"


def _label(step: str) -> Action:
    def act(r: Rest, n: str) -> tuple[str, str, str]:
        ds = r.datasource(n)
        base = f"/dataQualityWarnings/datasource/{ds}"
        warning = '<tsRequest><dataQualityWarning type="WARNING" isActive="true" message="{m}"/></tsRequest>'
        created = r.call("POST", base, warning.format(m="stale numbers"))
        dqw = created.find(".//t:dataQualityWarning", NS).get("id")
        if step in ("updated", "deleted"):
            r.call("PUT", f"/dataQualityWarnings/{dqw}", warning.format(m="still stale"))
        if step == "deleted":
            r.call("DELETE", f"/dataQualityWarnings/{dqw}")
        return ds, n, "DATASOURCE"

    return act


def _site(step: str) -> Action:
    def act(r: Rest, n: str) -> tuple[str, str, str]:
        url = "s" + uuid.uuid4().hex[:10]
        created = r.call(
            "POST",
            f"{r.server.api()}/sites",
            f'<tsRequest><site name="{n}" contentUrl="{url}"/></tsRequest>',
        )
        site = created.find("t:site", NS).get("id")
        name = n
        if step == "updated":
            name = f"{n} renamed"
            r.call(
                "PUT",
                f"{r.server.api()}/sites/{site}",
                f'<tsRequest><site name="{name}"/></tsRequest>',
            )
        if step == "deleted":
            r.call("DELETE", f"{r.server.api()}/sites/{site}")
        return site, name, "SITE"

    return act


def _flow_completed(r: Rest, n: str) -> tuple[str, str, str]:
    flow = r.publish("flow", n, f"{n}.tfl", package("flow", b"{}"))
    job = r.call("POST", f"/flows/{flow}/run", "<tsRequest/>").find("t:job", NS).get("id")
    deadline = time.monotonic() + 30
    while not r.call("GET", f"/jobs/{job}").find("t:job", NS).get("completedAt"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return flow, n, "FLOW"


ACTIONS: dict[str, Action] = {
    "DatasourceCreated": lambda r, n: (r.datasource(n), n, "DATASOURCE"),
    "DatasourceUpdated": _ds_updated,
    "DatasourceDeleted": _ds_deleted,
    "DatasourceRefreshStarted": _ds_refresh(missing=False),
    "DatasourceRefreshSucceeded": _ds_refresh(missing=False),
    "DatasourceRefreshFailed": _ds_refresh(missing=True),
    "WorkbookCreated": lambda r, n: (r.workbook(n), n, "WORKBOOK"),
    "WorkbookUpdated": _wb_updated,
    "WorkbookDeleted": _wb_deleted,
    "WorkbookRefreshStarted": _wb_refresh(missing=False),
    "WorkbookRefreshSucceeded": _wb_refresh(missing=False),
    "WorkbookRefreshFailed": _wb_refresh(missing=True),
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


def test_every_catalog_event_has_an_action() -> None:
    assert set(ACTIONS) == {e.name for e in events.CATALOG}


@pytest.fixture(scope="module")
def receiver(server: ServerProcess) -> Iterator[Receiver]:
    """One receiver per server: what one back end's run received must not count for the next."""
    running = Receiver().start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def rest(
    server: ServerProcess,
    admin_token: tuple[str, str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Rest:
    token, site_id, _ = admin_token
    return Rest(server, token, site_id, tmp_path_factory.mktemp("data"))


@pytest.mark.parametrize("event", [e.name for e in events.CATALOG])
def test_event_fires_from_its_action(rest: Rest, receiver: Receiver, event: str) -> None:
    path = f"/hook/{event}"
    url = receiver.url.replace("/hook", path)
    hook = (
        rest.call(
            "POST",
            "/webhooks",
            f'<tsRequest><webhook name="action-{event}" event="{event}"><webhook-destination>'
            f'<webhook-destination-http method="POST" url="{url}"/></webhook-destination></webhook></tsRequest>',
        )
        .find("t:webhook", NS)
        .get("id")
    )
    try:
        luid, name, resource = ACTIONS[event](rest, f"{event} subject")
        deadline = time.monotonic() + 20
        arrived: list[dict[str, str]] = []
        while time.monotonic() < deadline:
            arrived = [json.loads(r.body) for r in list(receiver.requests) if r.path == path]
            if arrived:
                break
            time.sleep(0.05)
        time.sleep(0.3)  # a duplicate would arrive right behind the first
        arrived = [json.loads(r.body) for r in list(receiver.requests) if r.path == path]
        assert len(arrived) == 1, arrived
        (payload,) = arrived
        assert payload["event_type"] == event
        assert payload["resource"] == resource
        assert payload["resource_name"] == name
        assert payload["resource_luid"] == luid
        assert payload["site_luid"] == rest.site_id
    finally:
        rest.call("DELETE", f"/webhooks/{hook}")
