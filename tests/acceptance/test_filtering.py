"""Tableau's filtering, sorting and field selection on every list method (issue 18), on both
back ends: every field of every resource's catalog with every operator it allows answers,
unsupported fields and operators are a 400 naming the supported ones, and the calls of TSC's
samples ``pagination_sample.py``, ``filter_sort_projects.py``, ``move_workbook_projects.py``
(and ``kill_all_jobs.py``, in test_job_control.py) work unmodified.
"""

from __future__ import annotations

import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest
import tableauserverclient as TSC

from tabhooks.store import listing
from tabhooks.store.contents import DATASOURCE_FIELDS, FLOW_FIELDS, VIEW_FIELDS, WORKBOOK_FIELDS
from tabhooks.store.jobs import JOB_FIELDS
from tabhooks.store.projects import PROJECT_FIELDS
from tabhooks.store.users import USER_FIELDS
from tests.support import tableau_samples as samples
from tests.support.rest import NS, Rest, Watch, error_code
from tests.support.server import ADMIN_PAT_NAME, ADMIN_PAT_SECRET, ServerProcess

TWB = samples.workbook_xml(samples.connection_xml("hyper"), sheets=("Sales", "Profit"))
TDS = samples.datasource_xml(samples.connection_xml("postgres", server="db.local", dbname="s"))
OWNER_EMAIL = "jfitzgerald@tableau.com"  # the owner pagination_sample.py filters on

ROUTES: dict[str, tuple[str, listing.Catalog]] = {
    "users": ("users", USER_FIELDS),
    "projects": ("projects", PROJECT_FIELDS),
    "workbooks": ("workbooks", WORKBOOK_FIELDS),
    "datasources": ("datasources", DATASOURCE_FIELDS),
    "flows": ("flows", FLOW_FIELDS),
    "views": ("views", VIEW_FIELDS),
    "jobs": ("jobs", JOB_FIELDS),
}
_ONE = {
    listing.Kind.TEXT: "x",
    listing.Kind.TAGS: "x",
    listing.Kind.NUMBER: "0",
    listing.Kind.DATE: "2020-01-01T00:00:00Z",
    listing.Kind.BOOL: "true",
}


def _value(route: str, field: str, spec: listing.Field, operator: str) -> str:
    if route == "jobs" and field == "status":
        return "[Pending,Success]" if operator == "in" else "Pending"
    one = _ONE[spec.kind]
    return f"[{one},y]" if operator == "in" else one


def _sweep() -> list[tuple[str, str, str, str]]:
    cases = []
    for route, (_, catalog) in ROUTES.items():
        for field, spec in catalog.items():
            for operator in sorted(spec.operators):
                cases.append((route, field, operator, _value(route, field, spec, operator)))
    return cases


@pytest.fixture(scope="module")
def seeded(admin: Rest) -> None:
    """One item of each kind, tagged and favorited, so the sweep's joins have rows."""
    for kind, file in (
        ("workbook", ("tableau_workbook", "seed.twb", TWB)),
        ("datasource", ("tableau_datasource", "seed.tds", TDS)),
        ("flow", ("tableau_flow", "seed.tfl", samples.package("flow", b"{}"))),
    ):
        name = f"seed-{kind}-{uuid.uuid4().hex[:6]}"
        made = admin.publish(f"{kind}s", f'<tsRequest><{kind} name="{name}"/></tsRequest>', file)
        assert made.status_code == 201, made.text
        item_id = made.json()[kind]["id"]
        tagged = admin.call(
            "PUT", f"{kind}s/{item_id}/tags", '<tsRequest><tags><tag label="x"/></tags></tsRequest>'
        )
        assert tagged.status_code == 200
        favorite = (
            f'<tsRequest><favorite label="{name}"><{kind} id="{item_id}"/></favorite></tsRequest>'
        )
        assert admin.call("PUT", f"favorites/{admin.user_id}", favorite).status_code == 200


@pytest.mark.parametrize(("route", "field", "operator", "value"), _sweep())
def test_every_documented_field_and_operator_answers(
    admin: Rest, seeded: None, route: str, field: str, operator: str, value: str
) -> None:
    response = admin.call("GET", route, params={"filter": f"{field}:{operator}:{value}"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_every_sortable_field_sorts_both_ways_and_unknown_ones_are_refused(
    admin: Rest, seeded: None, route: str
) -> None:
    catalog = ROUTES[route][1]
    names = listing.sortable(catalog)
    for name in names:
        for direction in ("asc", "desc"):
            response = admin.call("GET", route, params={"sort": f"{name}:{direction}"})
            assert response.status_code == 200, (name, response.text)
    both = admin.call("GET", route, params={"sort": f"{names[0]}:desc,{names[-1]}:asc"})
    assert both.status_code == 200, both.text
    for bad in ("nope:asc", f"{names[0]}:sideways", f"{names[0]}"):
        refused = admin.call("GET", route, params={"sort": bad})
        assert (refused.status_code, error_code(refused)) == (400, "400006"), bad
    unsortable = [f for f, spec in catalog.items() if not spec.sortable]
    for field in unsortable:
        refused = admin.call("GET", route, params={"sort": f"{field}:asc"})
        assert refused.status_code == 400


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_unsupported_fields_and_operators_answer_400_with_the_supported_list(
    admin: Rest, route: str
) -> None:
    catalog = ROUTES[route][1]
    unknown = admin.call("GET", route, params={"filter": "noSuchField:eq:x"})
    assert (unknown.status_code, error_code(unknown)) == (400, "400006")
    detail = ET.fromstring(unknown.content).find("t:error/t:detail", NS)
    assert detail is not None and detail.text is not None
    for field in catalog:
        assert field in detail.text
    field, spec = next(iter(catalog.items()))
    missing = sorted(listing.OPERATORS - spec.operators)[0]
    wrong = admin.call("GET", route, params={"filter": f"{field}:{missing}:x"})
    assert (wrong.status_code, error_code(wrong)) == (400, "400006")
    assert f"supported: {', '.join(sorted(spec.operators))}" in wrong.text


@pytest.mark.parametrize(
    ("route", "term"),
    [
        ("workbooks", "createdAt:gt:yesterday"),
        ("workbooks", "sheetCount:gt:many"),
        ("workbooks", "hasExtracts:eq:maybe"),
        ("workbooks", "name:eq:[a,b]"),
        ("jobs", "progress:lte:1.5"),
        ("jobs", "status:eq:Sleeping"),
        ("users", "name:eq:a%2500b"),  # a NUL once Tableau's second decoding is done
    ],
)
def test_badly_typed_values_are_400(admin: Rest, route: str, term: str) -> None:
    response = admin.call("GET", route, params={"filter": urllib.parse.unquote(term)})
    assert response.status_code == 400, response.text
    assert error_code(response) in ("400000", "400006")


def test_users_by_every_field(admin: Rest, server: ServerProcess) -> None:
    name = f"Filter.User-{uuid.uuid4().hex[:6]}"
    user_id = admin.add_user(name, "Explorer", "filter-password-1")
    changed = admin.call(
        "PUT", f"users/{user_id}", '<tsRequest><user fullName="Fil Terman"/></tsRequest>'
    )
    assert changed.status_code == 200
    signed_in = Rest.sign_in(server, name, "filter-password-1")  # sets lastLogin
    signed_in.close()
    assert admin.total("users", filter=f"name:eq:{name.lower()}") == 1
    assert admin.total("users", filter=f"name:cieq:{name.upper()}") == 1
    assert admin.total("users", filter=f"name:in:[{name},nobody]") == 1
    assert admin.total("users", filter="friendlyName:eq:Fil Terman") == 1
    assert admin.total("users", filter=f"luid:eq:{user_id}") == 1
    assert admin.total("users", filter=f"siteRole:eq:Explorer,name:eq:{name}") == 1
    assert admin.total("users", filter=f"siteRole:eq:Viewer,name:eq:{name}") == 0
    assert admin.total("users", filter=f"lastLogin:gte:2020-01-01T00:00:00Z,name:eq:{name}") == 1
    assert admin.total("users", filter=f"lastLogin:lt:2020-01-01T00:00:00Z,name:eq:{name}") == 0
    assert admin.total("users", filter=f"domainName:eq:local,isLocal:eq:true,name:eq:{name}") == 1
    assert admin.total("users", filter="siteRole:eq:ServerAdministrator") == 1
    only = admin.call("GET", "users", params={"filter": f"luid:eq:{user_id}", "fields": "name"})
    (user,) = ET.fromstring(only.content).iterfind(".//t:user", NS)
    assert user.attrib == {"name": name}


def test_workbooks_by_date_ranges_wildcards_and_multi_key_sort(admin: Rest) -> None:
    stem = uuid.uuid4().hex[:6]
    ids = {}
    for name in (f"{stem}-b", f"{stem}-a", f"{stem}-c"):
        made = admin.publish(
            "workbooks",
            f'<tsRequest><workbook name="{name}"/></tsRequest>',
            ("tableau_workbook", f"{name}.twb", TWB),
        )
        ids[name] = made.json()["workbook"]["id"]
    listed = admin.call(
        "GET",
        "workbooks",
        params={
            "filter": f"name:eq:{stem}*,createdAt:gte:2020-01-01T00:00:00Z,createdAt:lt:2999-01-01T00:00:00Z",
            "sort": "projectName:asc,name:desc",
        },
        json_out=True,
    ).json()
    assert [w["name"] for w in listed["workbooks"]["workbook"]] == [
        f"{stem}-c", f"{stem}-b", f"{stem}-a",
    ]  # fmt: skip
    assert admin.total("workbooks", filter=f"name:eq:*{stem[2:]}-a") == 1
    assert admin.total("workbooks", filter=f"sheetCount:eq:2,name:eq:{stem}*") == 3
    assert admin.total("workbooks", filter=f"sheetCount:gt:2,name:eq:{stem}*") == 0
    assert admin.total("workbooks", filter=f"size:lte:1,displayTabs:eq:false,name:eq:{stem}*") == 3
    assert (
        admin.total("workbooks", filter=f"createdAt:lt:2020-01-01T00:00:00Z,name:eq:{stem}*") == 0
    )
    fields = admin.call(
        "GET",
        "workbooks",
        params={"filter": f"name:eq:{stem}-a", "fields": "name,owner.name,tags"},
        json_out=True,
    ).json()
    (only,) = fields["workbooks"]["workbook"]
    assert set(only) == {"name", "owner", "tags"} and set(only["owner"]) == {"name"}
    every = admin.call(
        "GET", "workbooks", params={"filter": f"name:eq:{stem}-a", "fields": "_all_"}, json_out=True
    ).json()
    assert {"id", "project", "owner", "createdAt"} <= set(every["workbooks"]["workbook"][0])
    bad = admin.call("GET", "workbooks", params={"fields": "name,owner.salary"})
    assert (bad.status_code, error_code(bad)) == (400, "400006")


def test_data_sources_by_their_connections_and_certification(admin: Rest) -> None:
    name = f"conn-{uuid.uuid4().hex[:6]}"
    made = admin.publish(
        "datasources",
        f'<tsRequest><datasource name="{name}"><connectionCredentials name="etl" '
        'password="pw" embed="true"/></datasource></tsRequest>',
        ("tableau_datasource", f"{name}.tds", TDS),
    )
    assert made.status_code == 201, made.text
    assert admin.total("datasources", filter=f"connectionType:eq:postgres,name:eq:{name}") == 1
    assert admin.total("datasources", filter=f"serverName:eq:DB.local,name:eq:{name}") == 1
    assert admin.total("datasources", filter=f"databaseName:in:[s,t],name:eq:{name}") == 1
    assert admin.total("datasources", filter=f"databaseUserName:eq:etl,name:eq:{name}") == 1
    assert admin.total("datasources", filter=f"hasEmbeddedPassword:eq:true,name:eq:{name}") == 1
    assert admin.total("datasources", filter=f"hasEmbeddedPassword:eq:false,name:eq:{name}") == 0
    assert admin.total("datasources", filter=f"isCertified:eq:false,name:eq:{name}") == 1
    assert admin.total("datasources", filter=f"type:eq:postgres,name:eq:{name}") == 1
    assert admin.total("datasources", filter=f"connectionType:eq:mysql,name:eq:{name}") == 0


def test_jobs_by_progress_title_subtitle_and_fields(admin: Rest) -> None:
    name = f"job-{uuid.uuid4().hex[:6]}"
    made = admin.publish(
        "workbooks",
        f'<tsRequest><workbook name="{name}"/></tsRequest>',
        ("tableau_workbook", f"{name}.twb", TWB),
        params={"asJob": "true"},
    )
    assert made.status_code == 202, made.text
    assert admin.total("jobs", filter=f"title:eq:{name}") == 1
    assert admin.total("jobs", filter=f"title:has:{name[4:].upper()},progress:eq:100") == 1
    assert admin.total("jobs", filter=f"title:eq:{name},progress:lte:0") == 0
    assert admin.total("jobs", filter=f"title:eq:{name},subtitle:eq:Workbook") == 1
    assert admin.total("jobs", filter=f"title:eq:{name},jobType:eq:publish_workbook") == 1
    assert admin.total("jobs", filter=f"title:eq:{name},jobType:in:[PublishWorkbook]") == 1
    assert admin.total("jobs", filter=f"title:eq:{name},args:has:workbook") == 1
    assert admin.total("jobs", filter=f"title:eq:{name},priority:gte:50,status:eq:Success") == 1
    assert admin.total("jobs", filter=f"title:eq:{name},completedAt:gte:2020-01-01T00:00:00Z") == 1
    picked = admin.call(
        "GET", "jobs", params={"filter": f"title:eq:{name}", "fields": "id,jobType"}, json_out=True
    ).json()
    (job,) = picked["backgroundJobs"]["backgroundJob"]
    assert set(job) == {"id", "jobType"} and job["jobType"] == "publish_workbook"


# ----------------------------------------------------------------------------- TSC samples


def test_pagination_sample(tsc: TSC.Server, server: ServerProcess, tmp_path: Path) -> None:
    """pagination_sample.py's calls, signed in with a personal access token as it is."""
    maker = Rest.sign_in(server)
    try:
        owner_id = maker.add_user(f"jfitzgerald-{uuid.uuid4().hex[:6]}", "Creator", "pw-1234567")
    finally:
        maker.close()
    # The one user with the sample's e-mail owns three workbooks.
    owner = tsc.users.get_by_id(owner_id)
    owner.email = OWNER_EMAIL
    tsc.users.update(owner)
    project = next(p for p in TSC.Pager(tsc.projects) if p.is_default())
    owned = []
    for number in range(3):
        path = tmp_path / f"owned-{number}-{uuid.uuid4().hex[:6]}.twb"
        path.write_bytes(TWB)
        item = tsc.workbooks.publish(TSC.WorkbookItem(project.id), str(path), "CreateNew")
        item.owner_id = owner_id
        tsc.workbooks.update(item)
        owned.append(item.id)

    server_ = TSC.Server(server.base_url, use_server_version=True)
    tableau_auth = TSC.PersonalAccessTokenAuth(ADMIN_PAT_NAME, ADMIN_PAT_SECRET, site_id="")
    with server_.auth.sign_in(tableau_auth):
        you = server_.users.get_by_id(server_.user_id)
        assert you.id == server_.user_id
        total = server_.workbooks.get()[1].total_available
        count = sum(1 for _ in TSC.Pager(server_.workbooks, TSC.RequestOptions(1, 5)))
        assert count == total
        count = sum(1 for _ in TSC.Pager(server_.workbooks, TSC.RequestOptions(2, 3)))
        assert count == total - 3  # starts at the second page
        filtered_page_options = TSC.RequestOptions(1, 3)
        filter_owner = TSC.Filter("ownerEmail", TSC.RequestOptions.Operator.Equals, OWNER_EMAIL)
        filtered_page_options.filter.add(filter_owner)
        found = [wb.id for wb in TSC.Pager(server_.workbooks, filtered_page_options)]
        assert sorted(found) == sorted(owned)

        count, page, more = 0, 1, True
        while more:
            queryset = server_.workbooks.filter(ownerEmail=OWNER_EMAIL)
            for wb in queryset.paginate(page_number=page, page_size=3):
                assert wb.owner_id == owner_id
                count = count + 1
            more = queryset.total_available > count
            page = page + 1
        assert count == 3
        implicit = list(enumerate(server_.workbooks.filter(owner_email=OWNER_EMAIL), start=1))
        assert implicit[-1][0] == 3


def test_filter_sort_projects_sample(tsc: TSC.Server) -> None:
    """filter_sort_projects.py's calls. Its last line calls ``QuerySet.sort``, which TSC 0.42
    does not have (AttributeError on any server); ``order_by`` is what it means."""
    options = TSC.RequestOptions()
    options.filter.add(
        TSC.Filter(TSC.RequestOptions.Field.Name, TSC.RequestOptions.Operator.Equals, "default")
    )
    filtered_projects, _ = tsc.projects.get(req_options=options)
    assert [p.name for p in filtered_projects] == ["Default"]

    stem = uuid.uuid4().hex[:4]
    names = [f"Example {stem} 1", f"Example {stem} 2", f"Example {stem} 3"]
    for name in [*names, f"Proiect ca Exemplu {stem}"]:
        tsc.projects.create(
            TSC.ProjectItem(
                name=name,
                content_permissions="LockedToProject",
                description="Project created for testing",
            )
        )
    with pytest.raises(TSC.ServerResponseError):  # the sample creates them again and catches this
        tsc.projects.create(TSC.ProjectItem(name=names[0]))

    options = TSC.RequestOptions()
    options.filter.add(
        TSC.Filter(
            TSC.RequestOptions.Field.Name,
            TSC.RequestOptions.Operator.In,
            [urllib.parse.quote_plus(n) for n in names],
        )
    )
    options.sort.add(TSC.Sort(TSC.RequestOptions.Field.Name, TSC.RequestOptions.Direction.Desc))
    matching_projects, pagination_item = tsc.projects.get(req_options=options)
    assert [p.name for p in matching_projects] == names[::-1]
    assert pagination_item.total_available == 3

    quoted = [urllib.parse.quote_plus(p) for p in names]
    assert [p.name for p in tsc.projects.filter(name__in=quoted).order_by("-name")] == names[::-1]


def test_move_workbook_projects_sample(tsc: TSC.Server, admin: Rest, tmp_path: Path) -> None:
    """move_workbook_projects.py's calls: find both by (quoted) name, update the project; the
    move fires WorkbookUpdated."""
    destination = f"Destination {uuid.uuid4().hex[:6]}"
    tsc.projects.create(TSC.ProjectItem(name=destination))
    workbook_name = f"Move me {uuid.uuid4().hex[:6]}"
    path = tmp_path / "move.twb"
    path.write_bytes(TWB)
    default = next(p for p in TSC.Pager(tsc.projects) if p.is_default())
    published = tsc.workbooks.publish(
        TSC.WorkbookItem(default.id, name=workbook_name), str(path), "CreateNew"
    )
    watch = Watch(admin, ("WorkbookUpdated",))
    try:
        dest_project = tsc.projects.filter(name=urllib.parse.quote_plus(destination))[0]
        workbook = tsc.workbooks.filter(name=urllib.parse.quote_plus(workbook_name))[0]
        workbook.project_id = dest_project.id
        target_workbook = tsc.workbooks.update(workbook)
        assert target_workbook.project_name == destination
        watch.expect(("WorkbookUpdated", "WORKBOOK", published.id, workbook_name))
    finally:
        watch.close()


def test_filter_values_are_decoded_once_more_as_tableau_does(admin: Rest) -> None:
    name = f"Plus {uuid.uuid4().hex[:6]}"
    created = admin.call("POST", "projects", f'<tsRequest><project name="{name}"/></tsRequest>')
    assert created.status_code == 201
    encoded = urllib.parse.quote_plus(name)
    url = f"{admin.site_url}/projects?filter=name:eq:{urllib.parse.quote(encoded)}"
    response = httpx.get(url, headers={"X-Tableau-Auth": admin.token})
    assert ET.fromstring(response.content).find("t:pagination", NS).get("totalAvailable") == "1"  # type: ignore[union-attr]
