"""Projects, workbooks, data sources, views and connections through unmodified TSC and raw
multipart, with the exact deliveries each change fires — and every bad publish refused with a
Tableau error and nothing stored. Real server, real receiver."""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import tableauserverclient as TSC

from tests.support import tableau_samples as samples
from tests.support.rest import NS, Rest, Watch, error_code, multipart
from tests.support.server import ServerProcess

CONTENT_EVENTS = (
    "WorkbookCreated", "WorkbookUpdated", "WorkbookDeleted", "ViewDeleted",
    "DatasourceCreated", "DatasourceUpdated", "DatasourceDeleted",
)  # fmt: skip
POSTGRES = samples.connection_xml(
    "postgres", server="db.local", port="5432", dbname="sales", username="etl"
)
TDS = samples.datasource_xml(POSTGRES)
TWB = samples.workbook_xml(POSTGRES, sheets=("Sales", "Profit"), dashboards=("Overview",))
FILES = {
    "twb": TWB,
    "twbx": samples.package("Book.twb", TWB, {"Data/Extracts/sales.hyper": b"hyper-bytes"}),
    "tds": TDS,
    "tdsx": samples.package("Source.tds", TDS, {"Data/Extracts/sales.hyper": b"hyper-bytes"}),
}


def _unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


@pytest.fixture()
def watch(admin: Rest) -> Iterator[Watch]:
    running = Watch(admin, CONTENT_EVENTS)
    yield running
    running.close()


@pytest.fixture(scope="module")
def default_project(admin: Rest) -> str:
    found = admin.call("GET", "projects", json_out=True, params={"filter": "name:eq:Default"})
    return str(found.json()["projects"]["project"][0]["id"])


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("file_type", ["twb", "twbx", "tds", "tdsx"])
def test_tsc_publish_get_filter_download_and_connections(
    tsc: TSC.Server, watch: Watch, default_project: str, tmp_path: Path, file_type: str
) -> None:
    name = _unique(f"Sales {file_type}")
    path = _write(tmp_path, f"upload.{file_type}", FILES[file_type])
    is_workbook = file_type.startswith("twb")
    endpoint = tsc.workbooks if is_workbook else tsc.datasources
    item = (TSC.WorkbookItem if is_workbook else TSC.DatasourceItem)(default_project, name=name)
    published = endpoint.publish(item, str(path), TSC.Server.PublishMode.CreateNew)
    resource = "WORKBOOK" if is_workbook else "DATASOURCE"
    watch.expect((f"{resource.title()}Created", resource, published.id, name))

    fetched = endpoint.get_by_id(published.id)
    assert (fetched.name, fetched.project_id, fetched.project_name) == (
        name,
        default_project,
        "Default",
    )
    options = TSC.RequestOptions()
    options.filter.add(
        TSC.Filter(TSC.RequestOptions.Field.Name, TSC.RequestOptions.Operator.Equals, name)
    )
    found, pagination = endpoint.get(options)
    assert [i.id for i in found] == [published.id] and pagination.total_available == 1
    assert [i.id for i in endpoint.filter(name=name)] == [published.id]

    downloaded = Path(endpoint.download(published.id, filepath=str(tmp_path / "download")))
    assert downloaded.read_bytes() == FILES[file_type]
    endpoint.populate_connections(fetched)
    (connection,) = fetched.connections
    assert (connection.connection_type, connection.server_address, connection.server_port) == (
        "postgres", "db.local", "5432",
    )  # fmt: skip
    assert connection.username == "etl"
    if is_workbook:
        tsc.workbooks.populate_views(fetched)
        # In the file's order (the order of its sheets' tabs), not by name.
        assert [v.name for v in fetched.views] == ["Sales", "Profit", "Overview"]
    watch.take(0)


def test_tsc_update_connection_fires_updated(
    tsc: TSC.Server, watch: Watch, default_project: str, tmp_path: Path
) -> None:
    name = _unique("Connected")
    path = _write(tmp_path, "connected.twb", TWB)
    workbook = tsc.workbooks.publish(
        TSC.WorkbookItem(default_project, name=name), str(path), "CreateNew"
    )
    watch.take(1)
    tsc.workbooks.populate_connections(workbook)
    (connection,) = workbook.connections
    connection.server_address, connection.username = "replica.local", "reader"
    connection.password, connection.embed_password = "s3cret", True
    updated = tsc.workbooks.update_connection(workbook, connection)
    assert (updated.server_address, updated.username, updated.embed_password) == (
        "replica.local",
        "reader",
        True,
    )
    watch.expect(("WorkbookUpdated", "WORKBOOK", workbook.id, name))
    tsc.workbooks.populate_connections(workbook)
    assert workbook.connections[0].server_address == "replica.local"


def test_overwrite_with_fewer_sheets_fires_updated_and_view_deleted(
    tsc: TSC.Server, admin: Rest, watch: Watch, default_project: str, tmp_path: Path
) -> None:
    name = _unique("Shrinking")
    three = samples.workbook_xml(POSTGRES, sheets=("Sales", "Profit", "Region"))
    first = tsc.workbooks.publish(
        TSC.WorkbookItem(default_project, name=name),
        str(_write(tmp_path, "a.twb", three)),
        "CreateNew",
    )
    watch.take(1)
    tsc.workbooks.populate_views(first)
    before = {v.name: v.id for v in first.views}
    two = samples.workbook_xml(POSTGRES, sheets=("Sales", "Profit"))
    second = tsc.workbooks.publish(
        TSC.WorkbookItem(default_project, name=name),
        str(_write(tmp_path, "b.twb", two)),
        "Overwrite",
    )
    assert second.id == first.id
    watch.expect(
        ("WorkbookUpdated", "WORKBOOK", first.id, name),
        ("ViewDeleted", "VIEW", before["Region"], "Region"),
    )
    tsc.workbooks.populate_views(second)
    assert {v.name: v.id for v in second.views} == {
        "Sales": before["Sales"],
        "Profit": before["Profit"],
    }
    gone = admin.call("GET", f"views/{before['Region']}")
    assert (gone.status_code, error_code(gone)) == (404, "404011")


def test_delete_fires_deleted_and_view_deleted_per_view_then_404(
    tsc: TSC.Server, admin: Rest, watch: Watch, default_project: str, tmp_path: Path
) -> None:
    wb_name, ds_name = _unique("Doomed"), _unique("Doomed DS")
    workbook = tsc.workbooks.publish(
        TSC.WorkbookItem(default_project, name=wb_name),
        str(_write(tmp_path, "d.twb", TWB)),
        "CreateNew",
    )
    datasource = tsc.datasources.publish(
        TSC.DatasourceItem(default_project, name=ds_name),
        str(_write(tmp_path, "d.tds", TDS)),
        "CreateNew",
    )
    watch.take(2)
    tsc.workbooks.populate_views(workbook)
    views = list(workbook.views)  # TSC fetches lazily: read them before they are gone
    assert len(views) == 3
    tsc.workbooks.delete(workbook.id)
    watch.expect(
        ("WorkbookDeleted", "WORKBOOK", workbook.id, wb_name),
        *[("ViewDeleted", "VIEW", v.id, v.name) for v in views],
    )
    tsc.datasources.delete(datasource.id)
    watch.expect(("DatasourceDeleted", "DATASOURCE", datasource.id, ds_name))
    for path, code in (
        (f"workbooks/{workbook.id}", "404006"),
        (f"datasources/{datasource.id}", "404012"),
    ):
        for json_out in (False, True):
            gone = admin.call("GET", path, json_out=json_out)
            assert (gone.status_code, error_code(gone)) == (404, code)
    with pytest.raises(TSC.ServerResponseError) as missing:
        tsc.workbooks.get_by_id(workbook.id)
    assert missing.value.code == "404006"


def test_projects_as_tabcmd_asks_and_create(tsc: TSC.Server, admin: Rest, tmp_path: Path) -> None:
    tabcmd = {"filter": "name:eq:Default", "pageNumber": "1", "pageSize": "100"}
    listed = admin.call("GET", "projects", json_out=True, params=tabcmd).json()
    assert listed["pagination"] == {"pageNumber": "1", "pageSize": "100", "totalAvailable": "1"}
    assert [p["name"] for p in listed["projects"]["project"]] == ["Default"]
    as_xml = ET.fromstring(admin.call("GET", "projects", params=tabcmd).content)
    assert as_xml.find("t:pagination", NS).get("totalAvailable") == "1"
    assert admin.total("projects", filter="name:eq:Nowhere") == 0
    name = _unique("Finance")
    created = tsc.projects.create(TSC.ProjectItem(name, description="Money"))
    assert created.id and created.name == name
    assert admin.total("projects", filter=f"name:eq:{name}") == 1
    workbook = tsc.workbooks.publish(
        TSC.WorkbookItem(created.id, name="In Finance"),
        str(_write(tmp_path, "f.twb", TWB)),
        "CreateNew",
    )
    assert (workbook.project_id, workbook.project_name) == (created.id, name)
    filtered = admin.call(
        "GET",
        "workbooks",
        params={"filter": f"name:eq:In Finance,projectName:eq:{name}", "pageSize": "100"},
    )
    assert filtered.status_code == 200 and workbook.id in filtered.text


def test_renaming_or_moving_a_project_onto_a_siblings_name_conflicts(tsc: TSC.Server) -> None:
    first = tsc.projects.create(TSC.ProjectItem(_unique("Alpha")))
    second = tsc.projects.create(TSC.ProjectItem(_unique("Beta")))
    third = tsc.projects.create(TSC.ProjectItem(_unique("Gamma")))
    inner = tsc.projects.create(TSC.ProjectItem(first.name, parent_id=second.id))
    elsewhere = tsc.projects.create(TSC.ProjectItem(first.name, parent_id=third.id))
    rename = TSC.ProjectItem(first.name.upper())  # names compare without case, as on create
    rename._id = second.id
    move = TSC.ProjectItem(first.name, parent_id=second.id)
    move._id = elsewhere.id
    for clash in (rename, move):
        with pytest.raises(TSC.ServerResponseError) as refused:
            tsc.projects.update(clash)
        assert refused.value.code == "409000"
        assert "already exists" in refused.value.detail
    assert {p.id for p in tsc.projects.filter(name=first.name)} >= {first.id, inner.id}
    renamed = TSC.ProjectItem(second.name + " renamed")
    renamed._id = second.id
    assert tsc.projects.update(renamed).name == second.name + " renamed"


def test_renaming_a_workbook_onto_a_neighbours_name_conflicts(
    tsc: TSC.Server, default_project: str, tmp_path: Path
) -> None:
    path = str(_write(tmp_path, "n.twb", TWB))
    first, second = (
        tsc.workbooks.publish(TSC.WorkbookItem(default_project, name=_unique(n)), path, "CreateNew")
        for n in ("North", "South")
    )
    second.name = first.name
    with pytest.raises(TSC.ServerResponseError) as refused:
        tsc.workbooks.update(second)
    assert refused.value.code == "409000"
    assert "already exists" in refused.value.detail


def test_site_wide_views_listing(admin: Rest, watch: Watch, default_project: str) -> None:
    sheet = _unique("Unique Sheet")
    before = admin.total("views")
    body = samples.workbook_xml(POSTGRES, sheets=(sheet, "Second"))
    published = admin.publish(
        "workbooks",
        f'<tsRequest><workbook name="{_unique("Viewed")}"/></tsRequest>',
        ("tableau_workbook", "v.twb", body),
    )
    assert published.status_code == 201, published.text
    watch.take(1)
    assert admin.total("views") == before + 2
    listed = admin.call("GET", "views", json_out=True, params={"filter": f"name:eq:{sheet}"}).json()
    (view,) = listed["views"]["view"]
    assert view["name"] == sheet and view["workbook"]["id"] == published.json()["workbook"]["id"]
    assert listed["pagination"]["totalAvailable"] == "1"


def test_form_data_publish_and_json_request_payload(
    admin: Rest, watch: Watch, default_project: str
) -> None:
    wb_name, ds_name = _unique("Form Data"), _unique("JSON Payload")
    as_form = admin.publish(
        "workbooks",
        f'<tsRequest><workbook name="{wb_name}" showTabs="true"><project id="{default_project}"/></workbook></tsRequest>',
        ("tableau_workbook", "form.twb", TWB),
        subtype="form-data",
        params={"workbookType": "twb"},
    )
    assert as_form.status_code == 201, as_form.text
    workbook = as_form.json()["workbook"]
    assert workbook["showTabs"] is True and workbook["project"]["id"] == default_project
    watch.expect(("WorkbookCreated", "WORKBOOK", workbook["id"], wb_name))
    # As a JSON-speaking client library sends it: booleans, and a connection full of nulls.
    payload = {
        "datasource": {
            "name": ds_name,
            "showTabs": False,
            "project": {"id": default_project},
            "connectionCredentials": {"name": "etl", "password": "pw", "embed": True},
            "connections": {
                "connection": [dict.fromkeys(("serverAddress", "serverPort", "userName"))]
            },
        }
    }
    as_json = admin.publish(
        "datasources", json.dumps(payload), ("tableau_datasource", "json.tds", TDS), payload_type="application/json",
        params={"datasourceType": "tds", "overwrite": "false"},
    )  # fmt: skip
    assert as_json.status_code == 201, as_json.text
    datasource = as_json.json()["datasource"]
    watch.expect(("DatasourceCreated", "DATASOURCE", datasource["id"], ds_name))
    (connection,) = admin.call(
        "GET", f"datasources/{datasource['id']}/connections", json_out=True
    ).json()["connections"]["connection"]
    assert connection["userName"] == "etl" and connection["embedPassword"] is True


# ----------------------------------------------------------------------------- bad publishes

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE workbook [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<workbook><worksheets><worksheet name="&lol3;"/></worksheets></workbook>"""
WITH_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE workbook SYSTEM "http://example.com/workbook.dtd">
<workbook><worksheets><worksheet name="Sneaky"/></worksheets></workbook>"""
MISSING = "00000000-0000-4000-8000-000000000000"
EXISTING = "Existing Workbook"

# (id, collection, request_payload, file part or None, query, status, code). The placeholder
# payloads become <tsRequest><{kind} name=...><project id=.../></...>: {name}/{ds_name} a new name
# in Default, {unknown_project} a project that does not exist, {other_site} another site's
# Default project, {existing} the name of the workbook the `existing_workbook` fixture published.
BAD_PUBLISHES = [
    ("corrupt-zip", "workbooks", "{name}", ("tableau_workbook", "bad.twbx", b"PK\x03\x04 not a zip"), {}, 400, "400000"),
    ("zip-without-twb", "workbooks", "{name}", ("tableau_workbook", "empty.twbx", samples.package("notes.txt", b"hi")), {}, 400, "400000"),
    ("xml-bomb-twb", "workbooks", "{name}", ("tableau_workbook", "bomb.twb", BILLION_LAUGHS), {}, 400, "400000"),
    ("xml-bomb-in-twbx", "workbooks", "{name}", ("tableau_workbook", "bomb.twbx", samples.package("bomb.twb", BILLION_LAUGHS)), {}, 400, "400000"),
    ("twb-with-dtd", "workbooks", "{name}", ("tableau_workbook", "dtd.twb", WITH_DTD), {}, 400, "400000"),
    ("malformed-twb", "workbooks", "{name}", ("tableau_workbook", "broken.twb", b"<workbook><worksheets>"), {}, 400, "400000"),
    ("tds-is-a-workbook", "datasources", "{ds_name}", ("tableau_datasource", "wrong.tds", TWB), {}, 400, "400000"),
    ("no-file-part", "workbooks", "{name}", None, {}, 400, "400000"),
    ("wrong-file-part-name", "workbooks", "{name}", ("tableau_file", "book.twb", TWB), {}, 400, "400000"),
    ("datasource-part-on-workbooks", "workbooks", "{name}", ("tableau_datasource", "book.twb", TWB), {}, 400, "400000"),
    ("wrong-workbook-type", "workbooks", "{name}", ("tableau_workbook", "book.twb", TWB), {"workbookType": "twbx"}, 400, "400000"),
    ("workbook-type-tds", "workbooks", "{name}", ("tableau_workbook", "book.tds", TDS), {"workbookType": "tds"}, 400, "400000"),
    ("twb-to-datasources", "datasources", "{ds_name}", ("tableau_datasource", "book.twb", TWB), {}, 400, "400000"),
    ("unknown-project", "workbooks", "{unknown_project}", ("tableau_workbook", "book.twb", TWB), {}, 404, "404005"),
    ("other-sites-project", "datasources", "{other_site}", ("tableau_datasource", "s.tds", TDS), {}, 404, "404005"),
    ("no-name", "workbooks", "<tsRequest><workbook/></tsRequest>", ("tableau_workbook", "book.twb", TWB), {}, 400, "400000"),
    ("malformed-payload", "workbooks", "<tsRequest><workbook", ("tableau_workbook", "book.twb", TWB), {}, 400, "400000"),
    ("append-to-workbook", "workbooks", "{name}", ("tableau_workbook", "book.twb", TWB), {"append": "true"}, 400, "400000"),
    ("overwrite-and-append", "datasources", "{ds_name}", ("tableau_datasource", "s.tds", TDS), {"overwrite": "true", "append": "true"}, 400, "400000"),
    ("hyper-type-for-tds", "datasources", "{ds_name}", ("tableau_datasource", "s.tds", TDS), {"datasourceType": "hyper"}, 400, "400000"),
    ("empty-hyper", "datasources", "{ds_name}", ("tableau_datasource", "s.hyper", b""), {}, 400, "400000"),
    ("existing-no-overwrite", "workbooks", "{existing}", ("tableau_workbook", "book.twb", TWB), {"overwrite": "false"}, 409, "409004"),
]  # fmt: skip


@pytest.fixture(scope="module")
def other_site_project(server: ServerProcess, admin: Rest) -> str:
    """The Default project of a second site, which the admin's token does not belong to."""
    url = f"other{uuid.uuid4().hex[:6]}"
    created = admin.http.post(
        f"{server.api('3.28')}/sites",
        content=f'<tsRequest><site name="{url}" contentUrl="{url}"/></tsRequest>',
        headers={"X-Tableau-Auth": admin.token},
    )
    assert created.status_code == 201, created.text
    other = Rest.sign_in(server, site=url)
    projects = other.call("GET", "projects", json_out=True).json()["projects"]["project"]
    other.close()
    return str(projects[0]["id"])


@pytest.fixture(scope="module")
def existing_workbook(admin: Rest) -> str:
    published = admin.publish(
        "workbooks",
        f'<tsRequest><workbook name="{EXISTING}"/></tsRequest>',
        ("tableau_workbook", "e.twb", TWB),
    )
    assert published.status_code == 201, published.text
    return str(published.json()["workbook"]["id"])


def _stored(admin: Rest, server: ServerProcess) -> tuple[int, int, int, set[str]]:
    """What a refused publish must not change: every listing, and the server's files."""
    files = {str(p.relative_to(server.workdir)) for p in server.workdir.rglob("*")}
    return admin.total("workbooks"), admin.total("datasources"), admin.total("views"), files


@pytest.mark.parametrize(
    ("collection", "payload", "file", "params", "status", "code"),
    [case[1:] for case in BAD_PUBLISHES],
    ids=[case[0] for case in BAD_PUBLISHES],
)
def test_bad_publish_gets_tableau_error_and_stores_nothing(
    server: ServerProcess,
    admin: Rest,
    watch: Watch,
    default_project: str,
    other_site_project: str,
    existing_workbook: str,
    collection: str,
    payload: str,
    file: tuple[str, str, bytes] | None,
    params: dict[str, str],
    status: int,
    code: str,
) -> None:
    kind = collection[:-1]
    names = {
        "name": (_unique("Refused"), default_project),
        "ds_name": (_unique("Refused DS"), default_project),
        "unknown_project": (_unique("Lost"), MISSING),
        "other_site": (_unique("Elsewhere"), other_site_project),
        "existing": (EXISTING, default_project),
    }
    for key, (name, project) in names.items():
        payload = payload.replace(
            "{" + key + "}",
            f'<tsRequest><{kind} name="{name}"><project id="{project}"/></{kind}></tsRequest>',
        )
    before = _stored(admin, server)
    for json_out in (False, True):
        response = admin.publish(collection, payload, file, params=params, json_out=json_out)
        assert (response.status_code, error_code(response)) == (status, code), response.text
    assert _stored(admin, server) == before
    watch.take(0)


_RENAMED_PARTS = multipart(
    [
        ("payload", "", "text/xml", b'<tsRequest><workbook name="Renamed Parts"/></tsRequest>'),
        ("workbook", "book.twb", "application/octet-stream", TWB),
    ]
)
_DTD_PAYLOAD = multipart(
    [
        (
            "request_payload",
            "",
            "text/xml",
            b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><tsRequest><workbook name="&x;"/></tsRequest>',
        ),
        ("tableau_workbook", "book.twb", "application/octet-stream", TWB),
    ]
)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/xml", b'<tsRequest><workbook name="Plain"/></tsRequest>'),
        ("multipart/mixed", b"--x\r\nContent-Disposition: form-data; name=\"request_payload\"\r\n\r\n<tsRequest/>"),
        ("multipart/mixed; boundary=x", b"garbage without any boundary"),
        (_RENAMED_PARTS[1], _RENAMED_PARTS[0]),
        (_DTD_PAYLOAD[1], _DTD_PAYLOAD[0]),
    ],
    ids=["not-multipart", "no-boundary", "no-parts", "wrong-part-names", "payload-with-dtd"],
)  # fmt: skip
def test_publish_body_that_is_not_multipart_is_refused(
    server: ServerProcess, admin: Rest, watch: Watch, content_type: str, body: bytes
) -> None:
    before = _stored(admin, server)
    response = admin.call("POST", "workbooks", body, headers={"Content-Type": content_type})
    assert (response.status_code, error_code(response)) == (400, "400000"), response.text
    assert _stored(admin, server) == before
    watch.take(0)


def test_overwrite_is_for_the_owner_or_an_admin(
    server: ServerProcess, admin: Rest, watch: Watch
) -> None:
    suffix = uuid.uuid4().hex[:6]
    admin.add_user(f"publisher-{suffix}", "Creator", "publisher-pw")
    creator = Rest.sign_in(server, f"publisher-{suffix}", "publisher-pw")
    name = _unique("Guarded")
    payload = f'<tsRequest><workbook name="{name}"/></tsRequest>'
    first = admin.publish("workbooks", payload, ("tableau_workbook", "g.twb", TWB))
    assert first.status_code == 201, first.text
    workbook_id = first.json()["workbook"]["id"]
    watch.take(1)
    smaller = samples.workbook_xml(POSTGRES, sheets=("Only",))
    # Overwriting needs Write: Tableau's "Insufficient publishing permission" (403007).
    for params, status, code in (({"overwrite": "true"}, 403, "403007"), ({}, 409, "409004")):
        refused = creator.publish(
            "workbooks", payload, ("tableau_workbook", "g.twb", smaller), params=params
        )
        assert (refused.status_code, error_code(refused)) == (status, code), refused.text
    assert admin.call("GET", f"workbooks/{workbook_id}/content").content == TWB
    watch.take(0)
    by_owner = admin.publish(
        "workbooks", payload, ("tableau_workbook", "g.twb", smaller), params={"overwrite": "true"}
    )
    assert by_owner.status_code == 201 and by_owner.json()["workbook"]["id"] == workbook_id
    watch.expect(
        ("WorkbookUpdated", "WORKBOOK", workbook_id, name),
        *[
            ("ViewDeleted", "VIEW", v["id"], v["name"])
            for v in first.json()["workbook"]["views"]["view"]
        ],
    )
