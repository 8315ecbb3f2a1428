"""Certification and ownership (issue 18), on both back ends: Update Data Source with
``isCertified``/``certificationNote``, and Update Workbook / Data Source with a new owner or
project, each firing the ``*Updated`` event Tableau fires — unmodified TSC, raw XML and JSON.

Certifying is for administrators (in Tableau, administrators and project leaders): a data
source's owner changes its description, but not its certification.
"""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import tableauserverclient as TSC

from tests.support import tableau_samples as samples
from tests.support.rest import NS, Rest, Watch, error_code
from tests.support.server import ServerProcess

TDS = samples.datasource_xml(samples.connection_xml("postgres", server="db.local", dbname="s"))
TWB = samples.workbook_xml(samples.connection_xml("hyper"))
EVENTS = ("DatasourceUpdated", "WorkbookUpdated")


@pytest.fixture()
def watch(admin: Rest) -> Iterator[Watch]:
    running = Watch(admin, EVENTS)
    yield running
    running.close()


def _default(tsc: TSC.Server) -> str:
    return str(next(p for p in TSC.Pager(tsc.projects) if p.is_default()).id)


def _datasource(tsc: TSC.Server, tmp_path: Path) -> TSC.DatasourceItem:
    name = f"cert-{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{name}.tds"
    path.write_bytes(TDS)
    return tsc.datasources.publish(
        TSC.DatasourceItem(_default(tsc), name=name), str(path), "CreateNew"
    )


def test_tsc_certifies_and_uncertifies_a_datasource(
    tsc: TSC.Server, admin: Rest, watch: Watch, tmp_path: Path
) -> None:
    item = _datasource(tsc, tmp_path)
    watch.take(0)
    item.certified = True
    item.certification_note = "Checked by finance"
    updated = tsc.datasources.update(item)
    assert (updated.certified, updated.certification_note) == (True, "Checked by finance")
    watch.expect(("DatasourceUpdated", "DATASOURCE", item.id, item.name))
    got = tsc.datasources.get_by_id(item.id)
    assert (got.certified, got.certification_note) == (True, "Checked by finance")
    assert admin.total("datasources", filter=f"isCertified:eq:true,name:eq:{item.name}") == 1

    # A DatasourceItem made locally has certified=None, which TSC sends as "none": unchanged.
    local = TSC.DatasourceItem(_default(tsc))
    local._id = item.id
    local.description = "described"
    tsc.datasources.update(local)
    again = tsc.datasources.get_by_id(item.id)
    assert (again.certified, again.description) == (True, "described")
    watch.expect(("DatasourceUpdated", "DATASOURCE", item.id, item.name))

    got.certified = False
    tsc.datasources.update(got)  # TSC sends the old note along: uncertifying drops it
    final = tsc.datasources.get_by_id(item.id)
    assert (final.certified, final.certification_note) == (False, None)
    assert admin.total("datasources", filter=f"isCertified:eq:true,name:eq:{item.name}") == 0
    watch.expect(("DatasourceUpdated", "DATASOURCE", item.id, item.name))


def test_json_and_xml_certification_and_who_may(
    admin: Rest, server: ServerProcess, watch: Watch
) -> None:
    creator_name = f"creator-{uuid.uuid4().hex[:6]}"
    admin.add_user(creator_name, "Creator", "creator-password-1")
    creator = Rest.sign_in(server, creator_name, "creator-password-1")
    try:
        name = f"owned-{uuid.uuid4().hex[:6]}"
        made = creator.publish(
            "datasources",
            f'<tsRequest><datasource name="{name}"/></tsRequest>',
            ("tableau_datasource", f"{name}.tds", TDS),
        )
        ds = made.json()["datasource"]["id"]
        watch.take(0)
        refused = creator.call(
            "PUT", f"datasources/{ds}", '<tsRequest><datasource isCertified="true"/></tsRequest>'
        )
        assert (refused.status_code, error_code(refused)) == (403, "403000")
        # What TSC sends for the owner's own description change: isCertified as it was.
        described = creator.call(
            "PUT",
            f"datasources/{ds}",
            '<tsRequest><datasource isCertified="false" description="mine"/></tsRequest>',
        )
        assert described.status_code == 200, described.text
        watch.expect(("DatasourceUpdated", "DATASOURCE", ds, name))

        certified = admin.call(
            "PUT",
            f"datasources/{ds}",
            json.dumps({"datasource": {"isCertified": True, "certificationNote": "Gold"}}),
            json_out=True,
            headers={"Content-Type": "application/json"},
        )
        assert certified.status_code == 200, certified.text
        body = certified.json()["datasource"]
        assert (body["isCertified"], body["certificationNote"]) == (True, "Gold")
        watch.expect(("DatasourceUpdated", "DATASOURCE", ds, name))
        # The owner still changes what is theirs, sending the certification as it stands.
        kept = creator.call(
            "PUT",
            f"datasources/{ds}",
            '<tsRequest><datasource isCertified="true" certificationNote="Gold" '
            'description="still mine"/></tsRequest>',
        )
        assert kept.status_code == 200, kept.text
        watch.expect(("DatasourceUpdated", "DATASOURCE", ds, name))
        bad = admin.call(
            "PUT", f"datasources/{ds}", '<tsRequest><datasource isCertified="maybe"/></tsRequest>'
        )
        assert (bad.status_code, error_code(bad)) == (400, "400000")
        watch.take(0)
    finally:
        creator.close()


def test_tsc_moves_and_hands_over_a_workbook_and_a_datasource(
    tsc: TSC.Server, admin: Rest, watch: Watch, tmp_path: Path
) -> None:
    heir_name = f"heir-{uuid.uuid4().hex[:6]}"
    heir_id = admin.add_user(heir_name, "Creator", "heir-password-1")
    target = tsc.projects.create(TSC.ProjectItem(name=f"Target {uuid.uuid4().hex[:6]}"))
    path = tmp_path / "handover.twb"
    path.write_bytes(TWB)
    workbook = tsc.workbooks.publish(
        TSC.WorkbookItem(_default(tsc), name=f"Handover {uuid.uuid4().hex[:6]}"),
        str(path),
        "CreateNew",
    )
    datasource = _datasource(tsc, tmp_path)
    watch.take(0)

    workbook.owner_id = heir_id
    workbook.project_id = target.id
    moved = tsc.workbooks.update(workbook)
    assert (moved.owner_id, moved.project_id, moved.project_name) == (
        heir_id,
        target.id,
        target.name,
    )
    watch.expect(("WorkbookUpdated", "WORKBOOK", workbook.id, workbook.name))
    shown = admin.call("GET", f"workbooks/{workbook.id}")
    owner = ET.fromstring(shown.content).find(".//t:owner", NS)
    assert owner is not None and owner.get("name") == heir_name

    datasource.owner_id = heir_id
    datasource.project_id = target.id
    tsc.datasources.update(datasource)
    watch.expect(("DatasourceUpdated", "DATASOURCE", datasource.id, datasource.name))
    assert (
        admin.total("datasources", filter=f"ownerName:eq:{heir_name},projectName:eq:{target.name}")
        == 1
    )

    for path_, body, status, code in (
        (f"workbooks/{workbook.id}", f'<workbook><owner id="{uuid.uuid4()}"/></workbook>', 404, "404002"),
        (f"workbooks/{workbook.id}", f'<workbook><project id="{uuid.uuid4()}"/></workbook>', 404, "404005"),
        (f"datasources/{datasource.id}", f'<datasource><owner id="{uuid.uuid4()}"/></datasource>', 404, "404002"),
    ):  # fmt: skip
        refused = admin.call("PUT", path_, f"<tsRequest>{body}</tsRequest>")
        assert (refused.status_code, error_code(refused)) == (status, code)
    watch.take(0)  # refused changes fire nothing
