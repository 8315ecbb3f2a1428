"""Data quality warnings (Tableau's labels): unmodified TSC, raw XML and JSON, every rule, and
exactly one Label* delivery per warning changed — real server, real receiver."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import tableauserverclient as TSC

from tests.support import tableau_samples as samples
from tests.support.rest import NS, Rest, Watch, error_code
from tests.support.server import ADMIN_USERNAME, ServerProcess

LABEL_EVENTS = ("LabelCreated", "LabelUpdated", "LabelDeleted")
TDS = samples.datasource_xml(samples.connection_xml("postgres", server="db.local", dbname="sales"))
TWB = samples.workbook_xml(samples.connection_xml("postgres", server="db.local", dbname="sales"))


@pytest.fixture()
def watch(admin: Rest) -> Iterator[Watch]:
    running = Watch(admin, LABEL_EVENTS)
    yield running
    running.close()


def _publish(rest: Rest, kind: str, name: str | None = None) -> tuple[str, str]:
    """Publish a small data source or workbook as ``rest``; returns (id, name)."""
    name = name or f"{kind}-{uuid.uuid4().hex[:8]}"
    file = (
        ("tableau_datasource", f"{name}.tds", TDS)
        if kind == "datasource"
        else ("tableau_workbook", f"{name}.twb", TWB)
    )
    response = rest.publish(f"{kind}s", f'<tsRequest><{kind} name="{name}"/></tsRequest>', file)
    assert response.status_code == 201, response.text
    return response.json()[kind]["id"], name


def _dqw(
    type_: str = "WARNING", message: str = "", active: str = "true", severe: str = "false"
) -> str:
    return (
        f'<tsRequest><dataQualityWarning type="{type_}" isActive="{active}" '
        f'message="{message}" isSevere="{severe}"/></tsRequest>'
    )


def _warnings(response_body: bytes) -> list[ET.Element]:
    return ET.fromstring(response_body).findall(".//t:dataQualityWarning", NS)


def test_tsc_add_populate_update_delete_fire_one_event_each(
    tsc: TSC.Server, admin: Rest, watch: Watch, tmp_path: Path
) -> None:
    path = tmp_path / "Quality.tds"
    path.write_bytes(TDS)
    project = next(p for p in TSC.Pager(tsc.projects) if p.name == "Default")
    ds = tsc.datasources.publish(
        TSC.DatasourceItem(project.id, name="Quality"), str(path), "CreateNew"
    )
    watch.take(0)

    (added,) = tsc.datasources.add_dqw(ds, TSC.DQWItem("STALE", "Refreshed weekly", True, False))
    assert (added.content_id, added.content_type) == (ds.id, "DATASOURCE")
    assert (added.warning_type, added.message, added.active, added.severe) == (
        "STALE", "Refreshed weekly", True, False,
    )  # fmt: skip
    assert added.owner_id == admin.user_id and added.owner_display_name == ADMIN_USERNAME
    assert added.created_at is not None and added.updated_at is not None
    watch.expect(("LabelCreated", "DATASOURCE", ds.id, "Quality"))

    tsc.datasources.populate_dqw(ds)
    assert [w.id for w in ds.dqws] == [added.id]
    watch.take(0)

    (updated,) = tsc.datasources.update_dqw(
        ds, TSC.DQWItem("DEPRECATED", "Use Sales v2", False, True)
    )
    assert updated.id == added.id
    assert (updated.warning_type, updated.message, updated.active, updated.severe) == (
        "DEPRECATED", "Use Sales v2", False, True,
    )  # fmt: skip
    watch.expect(("LabelUpdated", "DATASOURCE", ds.id, "Quality"))

    tsc.datasources.delete_dqw(ds)
    watch.expect(("LabelDeleted", "DATASOURCE", ds.id, "Quality"))
    tsc.datasources.populate_dqw(ds)
    assert ds.dqws == []
    tsc.datasources.delete_dqw(ds)  # clearing nothing is fine, and fires nothing
    watch.take(0)


def test_raw_xml_on_a_workbook_by_warning_id(admin: Rest, watch: Watch) -> None:
    workbook_id, name = _publish(admin, "workbook")
    watch.take(0)
    added = admin.call(
        "POST", f"dataQualityWarnings/workbook/{workbook_id}", _dqw("MAINTENANCE", "Tonight")
    )
    assert added.status_code == 200, added.text
    (node,) = _warnings(added.content)
    warning_id = node.get("id")
    assert node.get("contentType") == "WORKBOOK" and node.get("contentId") == workbook_id
    assert node.find("t:owner", NS).get("id") == admin.user_id
    assert node.find("t:site", NS).get("id") == admin.site_id
    watch.expect(("LabelCreated", "WORKBOOK", workbook_id, name))

    got = admin.call("GET", f"dataQualityWarnings/{warning_id}")
    assert got.status_code == 200 and _warnings(got.content)[0].get("message") == "Tonight"
    changed = admin.call(
        "PUT",
        f"dataQualityWarnings/{warning_id}",
        '<tsRequest><dataQualityWarning isSevere="true"/></tsRequest>',
    )
    assert changed.status_code == 200, changed.text
    (node,) = _warnings(changed.content)
    assert (node.get("type"), node.get("message"), node.get("isSevere")) == (
        "MAINTENANCE",
        "Tonight",
        "true",
    )
    watch.expect(("LabelUpdated", "WORKBOOK", workbook_id, name))

    listed = admin.call("GET", f"dataQualityWarnings/WORKBOOK/{workbook_id}")
    assert ET.fromstring(listed.content).find("t:dataQualityWarningList", NS) is not None
    assert [n.get("id") for n in _warnings(listed.content)] == [warning_id]

    assert admin.call("DELETE", f"dataQualityWarnings/{warning_id}").status_code == 204
    watch.expect(("LabelDeleted", "WORKBOOK", workbook_id, name))
    gone = admin.call("GET", f"dataQualityWarnings/{warning_id}")
    assert (gone.status_code, error_code(gone)) == (404, "404057")


def test_json_in_and_out(admin: Rest, watch: Watch) -> None:
    ds_id, name = _publish(admin, "datasource")
    watch.take(0)
    body = '{"dataQualityWarning": {"type": "sensitive_data", "isActive": true, "isSevere": true, "message": "PII"}}'
    added = admin.call("POST", f"dataQualityWarnings/datasource/{ds_id}", body, json_out=True)
    assert added.status_code == 200, added.text
    assert added.headers["content-type"] == "application/json;charset=utf-8"
    warning = added.json()["dataQualityWarning"]
    assert warning["type"] == "SENSITIVE_DATA" and warning["isSevere"] is True
    assert warning["contentId"] == ds_id and warning["owner"] == {"id": admin.user_id}
    watch.expect(("LabelCreated", "DATASOURCE", ds_id, name))
    listed = admin.call("GET", f"dataQualityWarnings/datasource/{ds_id}", json_out=True).json()
    assert [w["id"] for w in listed["dataQualityWarningList"]["dataQualityWarning"]] == [
        warning["id"]
    ]
    updated = admin.call(
        "PUT",
        f"dataQualityWarnings/{warning['id']}",
        '{"dataQualityWarning": {"isActive": "false"}}',
        json_out=True,
    )
    assert updated.status_code == 200 and updated.json()["dataQualityWarning"]["isActive"] is False
    watch.expect(("LabelUpdated", "DATASOURCE", ds_id, name))


def test_by_content_update_and_clear_fire_one_event_per_warning(admin: Rest, watch: Watch) -> None:
    ds_id, name = _publish(admin, "datasource")
    for type_ in ("WARNING", "STALE"):
        assert (
            admin.call("POST", f"dataQualityWarnings/datasource/{ds_id}", _dqw(type_)).status_code
            == 200
        )
    watch.expect(*[("LabelCreated", "DATASOURCE", ds_id, name)] * 2)
    updated = admin.call(
        "PUT", f"dataQualityWarnings/datasource/{ds_id}", _dqw("DEPRECATED", "Moved")
    )
    assert updated.status_code == 200, updated.text
    assert [(n.get("type"), n.get("message")) for n in _warnings(updated.content)] == [
        ("DEPRECATED", "Moved")
    ] * 2
    watch.expect(*[("LabelUpdated", "DATASOURCE", ds_id, name)] * 2)
    assert admin.call("DELETE", f"dataQualityWarnings/datasource/{ds_id}").status_code == 204
    watch.expect(*[("LabelDeleted", "DATASOURCE", ds_id, name)] * 2)
    nothing = admin.call("PUT", f"dataQualityWarnings/datasource/{ds_id}", _dqw())
    assert (nothing.status_code, error_code(nothing)) == (404, "404057")
    watch.take(0)


def test_deleting_content_removes_its_warnings_without_label_deleted(admin: Rest) -> None:
    ds_id, name = _publish(admin, "datasource")
    added = admin.call("POST", f"dataQualityWarnings/datasource/{ds_id}", _dqw())
    warning_id = _warnings(added.content)[0].get("id")
    watch = Watch(admin, (*LABEL_EVENTS, "DatasourceDeleted"))
    try:
        assert admin.call("DELETE", f"datasources/{ds_id}").status_code == 204
        watch.expect(("DatasourceDeleted", "DATASOURCE", ds_id, name))
    finally:
        watch.close()
    gone = admin.call("GET", f"dataQualityWarnings/{warning_id}")
    assert (gone.status_code, error_code(gone)) == (404, "404057")


MISSING = "00000000-0000-4000-8000-000000000000"


@pytest.fixture(scope="module")
def targets(admin: Rest) -> dict[str, str]:
    """A data source with one warning and a workbook, which no bad request may change."""
    ds_id, _ = _publish(admin, "datasource")
    wb_id, _ = _publish(admin, "workbook")
    added = admin.call("POST", f"dataQualityWarnings/datasource/{ds_id}", _dqw("WARNING", "kept"))
    assert added.status_code == 200, added.text
    return {"ds": ds_id, "wb": wb_id, "warning": str(_warnings(added.content)[0].get("id"))}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("POST", "dataQualityWarnings/flow/{ds}", _dqw(), 400, "400000"),
        ("POST", "dataQualityWarnings/table/{ds}", _dqw(), 400, "400000"),
        ("GET", "dataQualityWarnings/database/{ds}", None, 400, "400000"),
        ("POST", "dataQualityWarnings/datasource/{ds}", _dqw("SPOOKY"), 400, "400000"),
        ("POST", "dataQualityWarnings/datasource/{ds}", '<tsRequest><dataQualityWarning message="x"/></tsRequest>', 400, "400000"),
        ("POST", "dataQualityWarnings/datasource/{ds}", _dqw(active="maybe"), 400, "400000"),
        ("POST", "dataQualityWarnings/datasource/{ds}", "<tsRequest><label/></tsRequest>", 400, "400000"),
        ("POST", "dataQualityWarnings/datasource/{ds}", "<tsRequest><dataQuality", 400, "400000"),
        ("POST", "dataQualityWarnings/datasource/{wb}", _dqw(), 404, "404012"),
        ("POST", "dataQualityWarnings/workbook/{ds}", _dqw(), 404, "404006"),
        ("GET", f"dataQualityWarnings/datasource/{MISSING}", None, 404, "404012"),
        ("DELETE", f"dataQualityWarnings/workbook/{MISSING}", None, 404, "404006"),
        ("GET", f"dataQualityWarnings/{MISSING}", None, 404, "404057"),
        ("PUT", f"dataQualityWarnings/{MISSING}", _dqw(), 404, "404057"),
        ("DELETE", f"dataQualityWarnings/{MISSING}", None, 404, "404057"),
        ("PUT", "dataQualityWarnings/{warning}", _dqw("NOPE"), 400, "400000"),
    ],
    ids=[
        "flow", "table", "database", "bad-type", "no-type", "bad-bool", "no-element",
        "malformed", "workbook-as-datasource", "datasource-as-workbook", "list-missing",
        "clear-missing", "get-missing", "put-missing", "delete-missing", "update-bad-type",
    ],
)  # fmt: skip
def test_bad_requests_get_tableau_errors_and_fire_nothing(
    admin: Rest,
    watch: Watch,
    targets: dict[str, str],
    method: str,
    path: str,
    body: str | None,
    status: int,
    code: str,
) -> None:
    for json_out in (False, True):
        response = admin.call(method, path.format(**targets), body, json_out=json_out)
        assert (response.status_code, error_code(response)) == (status, code), response.text
    watch.take(0)
    kept = admin.call("GET", f"dataQualityWarnings/{targets['warning']}")
    (node,) = _warnings(kept.content)
    assert (node.get("type"), node.get("message")) == ("WARNING", "kept")


def test_only_owners_and_admins_change_warnings_anyone_reads(
    server: ServerProcess, admin: Rest, watch: Watch
) -> None:
    suffix = uuid.uuid4().hex[:6]
    admin.add_user(f"creator-{suffix}", "Creator", "creator-pw")
    admin.add_user(f"viewer-{suffix}", "Viewer", "viewer-pw")
    creator = Rest.sign_in(server, f"creator-{suffix}", "creator-pw")
    viewer = Rest.sign_in(server, f"viewer-{suffix}", "viewer-pw")
    admins_ds, _ = _publish(admin, "datasource")
    own_ds, own_name = _publish(creator, "datasource")
    watch.take(0)

    for caller, ds_id in ((creator, admins_ds), (viewer, admins_ds), (viewer, own_ds)):
        refused = caller.call("POST", f"dataQualityWarnings/datasource/{ds_id}", _dqw())
        # Write missing on a data source the caller can see: Tableau's "Write forbidden".
        assert (refused.status_code, error_code(refused)) == (403, "403004")
    watch.take(0)

    added = creator.call("POST", f"dataQualityWarnings/datasource/{own_ds}", _dqw("STALE"))
    assert added.status_code == 200, added.text
    warning_id = _warnings(added.content)[0].get("id")
    watch.expect(("LabelCreated", "DATASOURCE", own_ds, own_name))
    seen = viewer.call("GET", f"dataQualityWarnings/datasource/{own_ds}")
    assert [n.get("id") for n in _warnings(seen.content)] == [warning_id]
    for method in ("PUT", "DELETE"):
        refused = viewer.call(method, f"dataQualityWarnings/{warning_id}", _dqw())
        assert (refused.status_code, error_code(refused)) == (403, "403004")
    watch.take(0)
    by_admin = admin.call("PUT", f"dataQualityWarnings/{warning_id}", _dqw("WARNING", "Checked"))
    assert by_admin.status_code == 200
    assert _warnings(by_admin.content)[0].find("t:owner", NS).get("id") == admin.user_id
    watch.expect(("LabelUpdated", "DATASOURCE", own_ds, own_name))
