"""Permissions (Tableau's Permissions methods): unmodified TSC for what TSC has, raw XML and
JSON for the rest, on both back ends — and the rules enforced: who sees what, who may change
permissions, locked projects, project leaders, owners and administrators.

The TSC tests make the calls of TSC's samples ``create_project.py`` (default permissions of
every content type), ``add_default_permission.py`` and ``query_permissions.py``, signed in
with a personal access token as the samples sign in.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import tableauserverclient as TSC
from tableauserverclient.server.endpoint.exceptions import ServerResponseError

from tests.support import tableau_samples as samples
from tests.support.rest import NS, Rest, error_code
from tests.support.server import ServerProcess

PASSWORD = "permission-test-password-0123"
TWB = samples.workbook_xml(samples.connection_xml("hyper"), sheets=("Sales", "Profit"))
TDS = samples.datasource_xml(samples.connection_xml("hyper"))
VIEWER = {"Read", "Filter", "ViewComments", "AddComment", "ExportImage", "ExportData"}


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class Person:
    """A user of the default site, signed in."""

    id: str
    name: str
    rest: Rest


@pytest.fixture(scope="module")
def people(server: ServerProcess, admin: Rest) -> Iterator[dict[str, Person]]:
    """A Viewer, a Creator who publishes (the owner) and another Creator."""
    out = {}
    for key, role in (("viewer", "Viewer"), ("owner", "Creator"), ("creator", "Creator")):
        name = _name(key)
        user_id = admin.add_user(name, role, PASSWORD)
        out[key] = Person(user_id, name, Rest.sign_in(server, name, PASSWORD))
    yield out
    for person in out.values():
        person.rest.close()


def _project(rest: Rest, parent: str | None = None, permissions: str = "ManagedByOwner") -> str:
    parent_attr = f' parentProjectId="{parent}"' if parent else ""
    created = rest.call(
        "POST",
        "projects",
        f'<tsRequest><project name="{_name("p")}"{parent_attr} '
        f'contentPermissions="{permissions}"/></tsRequest>',
        json_out=True,
    )
    assert created.status_code == 201, created.text
    return str(created.json()["project"]["id"])


def _publish(rest: Rest, kind: str, project: str, *, show_tabs: bool = False) -> str:
    name = _name(kind)
    file = (
        ("tableau_workbook", f"{name}.twb", TWB)
        if kind == "workbook"
        else ("tableau_datasource", f"{name}.tds", TDS)
        if kind == "datasource"
        else ("tableau_flow", f"{name}.tfl", samples.package("flow", b"{}"))
    )
    tabs = ' showTabs="true"' if show_tabs else ""
    published = rest.publish(
        f"{kind}s",
        f'<tsRequest><{kind} name="{name}"{tabs}><project id="{project}"/></{kind}></tsRequest>',
        file,
    )
    assert published.status_code == 201, published.text
    return str(published.json()[kind]["id"])


def _grant(
    rest: Rest, path: str, grantee: str, grantee_id: str, *capabilities: tuple[str, str]
) -> int:
    caps = "".join(f'<capability name="{n}" mode="{m}"/>' for n, m in capabilities)
    body = (
        f'<tsRequest><permissions><granteeCapabilities><{grantee} id="{grantee_id}"/>'
        f"<capabilities>{caps}</capabilities></granteeCapabilities></permissions></tsRequest>"
    )
    return rest.call("PUT", f"{path}/permissions", body).status_code


def _rules(rest: Rest, path: str) -> dict[tuple[str, str], dict[str, str]]:
    """``{(grantee type, id): {capability: mode}}`` of a Query Permissions answer."""
    answer = rest.call("GET", path)
    assert answer.status_code == 200, answer.text
    out: dict[tuple[str, str], dict[str, str]] = {}
    for granted in ET.fromstring(answer.content).findall(".//t:granteeCapabilities", NS):
        who = next(iter(granted.findall("./*[@id]")))
        key = (who.tag.split("}")[1], who.get("id", ""))
        out[key] = {
            c.get("name", ""): c.get("mode", "")
            for c in granted.findall("t:capabilities/t:capability", NS)
        }
    return out


def _all_users(admin: Rest) -> str:
    listed = admin.call("GET", "groups", params={"filter": "name:eq:All Users"})
    return str(ET.fromstring(listed.content).find(".//t:group", NS).get("id"))  # type: ignore[union-attr]


# -- TSC --------------------------------------------------------------------------------------


def test_tsc_project_defaults_as_the_samples_use_them(pat_tsc: TSC.Server, admin: Rest) -> None:
    everyone = _all_users(admin)
    top = pat_tsc.projects.create(TSC.ProjectItem(_name("Top Level Project"), "A sample"))
    child = pat_tsc.projects.create(TSC.ProjectItem(_name("Child Project"), parent_id=top.id))
    pat_tsc.projects.populate_workbook_default_permissions(child)
    pat_tsc.projects.populate_flow_default_permissions(child)
    pat_tsc.projects.populate_lens_default_permissions(child)
    pat_tsc.projects.populate_datasource_default_permissions(child)
    pat_tsc.projects.populate_permissions(child)
    # New projects have one grantee, All Users, as on a new Tableau site.
    (rule,) = child.default_workbook_permissions
    assert rule.grantee.tag_name == "group" and rule.grantee.id == everyone
    assert set(rule.capabilities) == VIEWER
    assert set(rule.capabilities.values()) == {"Allow"}
    assert [r.capabilities for r in child.default_datasource_permissions] == [
        {"Read": "Allow", "Connect": "Allow"}
    ]
    assert [r.capabilities for r in child.default_flow_permissions] == [{"Read": "Allow"}]
    assert child.default_lens_permissions == []
    assert [r.capabilities for r in child.permissions] == [{"Read": "Allow"}]

    # add_default_permission.py: ExportXml for All Users on workbooks.
    added = pat_tsc.projects.update_workbook_default_permissions(
        child,
        [TSC.PermissionsRule(rule.grantee, {TSC.Permission.Capability.ExportXml: "Allow"})],
    )
    assert [(r.grantee.id, r.capabilities) for r in added] == [(everyone, {"ExportXml": "Allow"})]
    pat_tsc.projects.populate_workbook_default_permissions(child)
    assert child.default_workbook_permissions[0].capabilities["ExportXml"] == "Allow"
    pat_tsc.projects.delete_workbook_default_permissions(
        child, TSC.PermissionsRule(rule.grantee, {"ExportXml": "Allow"})
    )
    pat_tsc.projects.populate_workbook_default_permissions(child)
    assert "ExportXml" not in child.default_workbook_permissions[0].capabilities

    # The other content types TSC knows are kept as sent.
    group = TSC.GroupItem.as_reference(everyone)
    for kind in ("metric", "datarole", "lens", "virtualconnection", "database", "table"):
        getattr(pat_tsc.projects, f"update_{kind}_default_permissions")(
            child, [TSC.PermissionsRule(group, {"Read": "Allow", "Write": "Deny"})]
        )
        getattr(pat_tsc.projects, f"populate_{kind}_default_permissions")(child)
        (kept,) = getattr(child, f"default_{kind}_permissions")
        assert kept.capabilities == {"Read": "Allow", "Write": "Deny"}, kind
        getattr(pat_tsc.projects, f"delete_{kind}_default_permissions")(
            child, TSC.PermissionsRule(group, {"Write": "Deny"})
        )


def test_tsc_content_permissions_query_update_delete(
    pat_tsc: TSC.Server, admin: Rest, people: dict[str, Person]
) -> None:
    project = _project(admin)
    everyone = _all_users(admin)
    viewer = TSC.UserItem.as_reference(people["viewer"].id)
    for kind, endpoint in (
        ("workbook", pat_tsc.workbooks),
        ("datasource", pat_tsc.datasources),
        ("flow", pat_tsc.flows),
    ):
        item = endpoint.get_by_id(_publish(admin, kind, project))
        endpoint.populate_permissions(item)  # query_permissions.py
        (copied,) = item.permissions  # the project's defaults for its type
        assert copied.grantee.id == everyone and "Read" in copied.capabilities
        updated = endpoint.update_permissions(
            item, [TSC.PermissionsRule(viewer, {"Read": "Deny", "Delete": "Allow"})]
        )
        if kind == "workbook":  # TSC hands back what the server answered for workbooks only
            assert [(r.grantee.id, r.capabilities) for r in updated] == [
                (people["viewer"].id, {"Read": "Deny", "Delete": "Allow"})
            ]
        endpoint.populate_permissions(item)
        mine = [r for r in item.permissions if r.grantee.tag_name == "user"]
        assert mine[0].capabilities == {"Read": "Deny", "Delete": "Allow"}, kind
        endpoint.delete_permission(item, TSC.PermissionsRule(viewer, {"Read": "Deny"}))
        endpoint.populate_permissions(item)
        mine = [r for r in item.permissions if r.grantee.tag_name == "user"]
        assert mine[0].capabilities == {"Delete": "Allow"}, kind

    # Views and projects.
    workbook = pat_tsc.workbooks.get_by_id(_publish(admin, "workbook", project))
    pat_tsc.workbooks.populate_views(workbook)
    view = workbook.views[0]
    pat_tsc.views.populate_permissions(view)
    assert [r.grantee.id for r in view.permissions] == [everyone]  # the workbook's
    pat_tsc.views.update_permissions(view, [TSC.PermissionsRule(viewer, {"ExportData": "Deny"})])
    pat_tsc.views.populate_permissions(view)
    assert {r.grantee.id for r in view.permissions} == {everyone, people["viewer"].id}
    item = pat_tsc.projects.get_by_id(project)
    pat_tsc.projects.update_permissions(item, [TSC.PermissionsRule(viewer, {"Write": "Allow"})])
    pat_tsc.projects.populate_permissions(item)
    assert {r.grantee.id: r.capabilities for r in item.permissions}[people["viewer"].id] == {
        "Write": "Allow"
    }
    pat_tsc.projects.delete_permission(item, [TSC.PermissionsRule(viewer, {"Write": "Allow"})])


def test_tsc_refusals_carry_tableau_codes(pat_tsc: TSC.Server, admin: Rest) -> None:
    project = _project(admin)
    item = pat_tsc.workbooks.get_by_id(_publish(admin, "workbook", project))
    group = TSC.GroupItem.as_reference(_all_users(admin))
    with pytest.raises(ServerResponseError) as bad:
        pat_tsc.workbooks.update_permissions(
            item, [TSC.PermissionsRule(group, {"Connect": "Allow"})]
        )
    assert bad.value.code == "400000"
    with pytest.raises(ServerResponseError) as gone:
        pat_tsc.workbooks.delete_permission(item, TSC.PermissionsRule(group, {"Write": "Allow"}))
    assert gone.value.code == "404003"


# -- raw XML and JSON -------------------------------------------------------------------------


def test_raw_xml_shape_and_json(admin: Rest, people: dict[str, Person]) -> None:
    project = _project(admin)
    workbook = _publish(admin, "workbook", project)
    group = admin.create_group(people["viewer"].id)
    body = (
        "<tsRequest><permissions>"
        f'<workbook id="{workbook}"/>'
        f'<granteeCapabilities><group id="{group}"/><capabilities>'
        '<capability name="Read" mode="Allow"/><capability name="Write" mode="Deny"/>'
        "</capabilities></granteeCapabilities>"
        f'<granteeCapabilities><user id="{people["viewer"].id}"/><capabilities>'
        '<capability name="ShareView" mode="Allow"/></capabilities></granteeCapabilities>'
        "</permissions></tsRequest>"
    )
    added = admin.call("PUT", f"workbooks/{workbook}/permissions", body)
    assert added.status_code == 200, added.text
    root = ET.fromstring(added.content)
    parent = root.find("t:permissions/t:workbook", NS)
    assert parent is not None and parent.get("id") == workbook
    assert parent.find("t:owner", NS).get("id") == admin.user_id  # type: ignore[union-attr]
    assert len(root.findall("t:permissions/t:granteeCapabilities", NS)) == 2

    listed = admin.call("GET", f"workbooks/{workbook}/permissions", json_out=True)
    assert listed.status_code == 200, listed.text
    permissions = listed.json()["permissions"]
    assert permissions["workbook"]["id"] == workbook
    grantees = {
        (next(k for k in g if k != "capabilities"), g.get("group", g.get("user"))["id"]): {
            c["name"]: c["mode"] for c in g["capabilities"]["capability"]
        }
        for g in permissions["granteeCapabilities"]
    }
    assert grantees[("group", group)] == {"Read": "Allow", "Write": "Deny"}
    assert grantees[("user", people["viewer"].id)] == {"ShareView": "Allow"}

    # JSON in, one capability given as an object rather than a list; the other mode replaces.
    json_body = (
        '{"permissions": {"granteeCapabilities": [{"group": {"id": "' + group + '"}, '
        '"capabilities": {"capability": {"name": "Write", "mode": "Allow"}}}]}}'
    )
    again = admin.call("PUT", f"workbooks/{workbook}/permissions", json_body, json_out=True)
    assert again.status_code == 200, again.text
    assert _rules(admin, f"workbooks/{workbook}/permissions")[("group", group)] == {
        "Read": "Allow",
        "Write": "Allow",
    }
    gone = admin.call("DELETE", f"workbooks/{workbook}/permissions/groups/{group}/Write/Allow")
    assert gone.status_code == 204
    # Deleting the group deletes its rules.
    assert admin.call("DELETE", f"groups/{group}").status_code == 204
    assert ("group", group) not in _rules(admin, f"workbooks/{workbook}/permissions")


def test_bad_requests(admin: Rest) -> None:
    project = _project(admin)
    workbook = _publish(admin, "workbook", project)
    everyone = _all_users(admin)
    missing = str(uuid.uuid4())
    path = f"workbooks/{workbook}/permissions"

    def grant(grantee: str, gid: str, name: str, mode: str) -> str:
        return (
            f'<tsRequest><permissions><granteeCapabilities><{grantee} id="{gid}"/><capabilities>'
            f'<capability name="{name}" mode="{mode}"/></capabilities></granteeCapabilities>'
            "</permissions></tsRequest>"
        )

    cases = [
        ("PUT", path, grant("group", everyone, "Execute", "Allow"), 400, "400000"),
        ("PUT", path, grant("group", everyone, "Read", "allow"), 400, "400000"),
        ("PUT", path, grant("group", missing, "Read", "Allow"), 404, "404002"),
        ("PUT", path, grant("user", missing, "Read", "Allow"), 404, "404002"),
        ("PUT", path, "<tsRequest/>", 400, "400000"),
        ("PUT", path, "<tsRequest><permissions/></tsRequest>", 400, "400000"),
        ("PUT", f"workbooks/{missing}/permissions", grant("group", everyone, "Read", "Allow"), 404, "404006"),
        ("GET", f"datasources/{missing}/permissions", None, 404, "404012"),
        ("GET", f"flows/{missing}/permissions", None, 404, "404022"),
        ("GET", f"views/{missing}/permissions", None, 404, "404011"),
        ("GET", f"projects/{missing}/permissions", None, 404, "404005"),
        ("PUT", f"projects/{project}/permissions", grant("group", everyone, "InheritedProjectLeader", "Allow"), 400, "400000"),
        ("DELETE", f"{path}/groups/{everyone}/Write/Deny", None, 404, "404003"),
        ("DELETE", f"{path}/teams/{everyone}/Read/Allow", None, 404, "404003"),
        ("GET", f"projects/{project}/default-permissions/widgets", None, 404, "404003"),
        ("GET", f"projects/{project}/default-permissions/VirtualConnections", None, 200, None),
        ("PUT", f"projects/{project}/default-permissions/datasources", grant("group", everyone, "WebAuthoring", "Allow"), 400, "400000"),
        ("DELETE", f"projects/{project}/default-permissions/flows/groups/{everyone}/Execute/Allow", None, 404, "404003"),
    ]  # fmt: skip
    for method, where, body, status, code in cases:
        answer = admin.call(method, where, body)
        assert answer.status_code == status, (method, where, answer.text)
        if code:
            assert error_code(answer) == code, (method, where, answer.text)


def test_new_projects_and_content_copy_their_rules(admin: Rest, people: dict[str, Person]) -> None:
    viewer = people["viewer"].id
    parent = _project(admin)
    assert _grant(admin, f"projects/{parent}", "user", viewer, ("Write", "Allow")) == 200
    defaults = (
        "<tsRequest><permissions><granteeCapabilities>"
        f'<user id="{viewer}"/><capabilities><capability name="ExportXml" mode="Allow"/>'
        "</capabilities></granteeCapabilities></permissions></tsRequest>"
    )
    assert (
        admin.call("PUT", f"projects/{parent}/default-permissions/workbooks", defaults).status_code
        == 200
    )
    child = _project(admin, parent)
    assert _rules(admin, f"projects/{child}/permissions")[("user", viewer)] == {"Write": "Allow"}
    assert _rules(admin, f"projects/{child}/default-permissions/workbooks")[("user", viewer)] == {
        "ExportXml": "Allow"
    }
    workbook = _publish(admin, "workbook", child)
    assert _rules(admin, f"workbooks/{workbook}/permissions")[("user", viewer)] == {
        "ExportXml": "Allow"
    }
    # Defaults apply to new content only: changing them later leaves the workbook as it was.
    admin.call(
        "DELETE", f"projects/{child}/default-permissions/workbooks/users/{viewer}/ExportXml/Allow"
    )
    assert ("user", viewer) in _rules(admin, f"workbooks/{workbook}/permissions")


# -- enforcement ------------------------------------------------------------------------------


def _sees(person: Person, kind: str, content_id: str, name: str | None = None) -> bool:
    """Whether ``person`` gets the content, and finds it in its listing (both or neither)."""
    got = person.rest.call("GET", f"{kind}s/{content_id}")
    listed = person.rest.call("GET", f"{kind}s", json_out=True, params={"pageSize": "1000"})
    assert listed.status_code == 200, listed.text
    in_list = content_id in {c["id"] for c in listed.json()[f"{kind}s"].get(kind, [])}
    assert (got.status_code == 200) == in_list, (got.status_code, in_list)
    if got.status_code != 200:
        assert got.status_code == 404, got.text
    return in_list


def _views_seen(person: Person, workbook: str) -> set[str]:
    listed = person.rest.call("GET", "views", json_out=True, params={"pageSize": "1000"})
    assert listed.status_code == 200, listed.text
    return {
        v["id"]
        for v in listed.json()["views"].get("view", [])
        if v.get("workbook", {}).get("id") == workbook
    }


def test_read_decides_who_sees_what(admin: Rest, people: dict[str, Person]) -> None:
    viewer, owner = people["viewer"], people["owner"]
    project = _project(admin)
    workbook = _publish(owner.rest, "workbook", project)
    path = f"workbooks/{workbook}"
    assert _sees(viewer, "workbook", workbook)  # All Users: the Viewer template
    view_ids = _views_seen(viewer, workbook)
    assert len(view_ids) == 2

    # A user's Deny: gone from lists, gets, views, downloads and connections.
    assert _grant(owner.rest, path, "user", viewer.id, ("Read", "Deny")) == 200
    assert not _sees(viewer, "workbook", workbook)
    assert viewer.rest.call("GET", f"{path}/views").status_code == 404
    assert viewer.rest.call("GET", f"{path}/content").status_code == 404
    assert viewer.rest.call("GET", f"{path}/connections").status_code == 404
    assert error_code(viewer.rest.call("GET", path)) == "404006"
    assert _views_seen(viewer, workbook) == set()
    for view_id in view_ids:
        assert error_code(viewer.rest.call("GET", f"views/{view_id}")) == "404011"
    assert viewer.rest.call("GET", f"{path}/permissions").status_code == 404
    assert _sees(owner, "workbook", workbook) and _sees(people["creator"], "workbook", workbook)
    assert admin.call("GET", path).status_code == 200

    # A group's Deny beats All Users' Allow; the user's own Allow beats both.
    admin.call("DELETE", f"{path}/permissions/users/{viewer.id}/Read/Deny")
    assert _sees(viewer, "workbook", workbook)
    group = admin.create_group(viewer.id)
    assert _grant(admin, path, "group", group, ("Read", "Deny")) == 200
    assert not _sees(viewer, "workbook", workbook)
    assert _sees(people["creator"], "workbook", workbook)  # not in the group
    assert _grant(admin, path, "user", viewer.id, ("Read", "Allow")) == 200
    assert _sees(viewer, "workbook", workbook)


def test_a_view_of_a_workbook_without_tabs_has_its_own_rules(
    admin: Rest, people: dict[str, Person]
) -> None:
    viewer = people["viewer"]
    project = _project(admin)
    hidden_tabs = _publish(admin, "workbook", project)
    shown_tabs = _publish(admin, "workbook", project, show_tabs=True)
    first, second = sorted(_views_seen(viewer, hidden_tabs))
    assert _grant(admin, f"views/{first}", "user", viewer.id, ("Read", "Deny")) == 200
    assert _views_seen(viewer, hidden_tabs) == {second}
    listed = viewer.rest.call("GET", f"workbooks/{hidden_tabs}/views", json_out=True)
    assert [v["id"] for v in listed.json()["views"]["view"]] == [second]
    # The view's first rules started from its workbook's.
    assert ("group", _all_users(admin)) in _rules(admin, f"views/{first}/permissions")
    # Shown as tabs, views take the workbook's permissions and cannot have their own.
    (tab, *_) = sorted(_views_seen(viewer, shown_tabs))
    refused = admin.call(
        "PUT",
        f"views/{tab}/permissions",
        "<tsRequest><permissions><granteeCapabilities>"
        f'<user id="{viewer.id}"/><capabilities><capability name="Read" mode="Deny"/>'
        "</capabilities></granteeCapabilities></permissions></tsRequest>",
    )
    assert refused.status_code == 403 and error_code(refused) == "403000"


def test_locked_projects_use_their_defaults(admin: Rest, people: dict[str, Person]) -> None:
    viewer = people["viewer"]
    locked = _project(admin, permissions="LockedToProject")
    nested = _project(admin, locked)
    top = _publish(admin, "datasource", locked)
    inner = _publish(admin, "datasource", nested)
    deny = (
        "<tsRequest><permissions><granteeCapabilities>"
        f'<user id="{viewer.id}"/><capabilities><capability name="Read" mode="Deny"/>'
        "</capabilities></granteeCapabilities></permissions></tsRequest>"
    )
    assert (
        admin.call("PUT", f"projects/{locked}/default-permissions/datasources", deny).status_code
        == 200
    )
    assert not _sees(viewer, "datasource", top) and not _sees(viewer, "datasource", inner)
    # Their own rules are not what decides, and cannot be changed while locked.
    assert _grant(admin, f"datasources/{top}", "user", viewer.id, ("Read", "Allow")) == 403
    assert _grant(admin, f"projects/{nested}", "user", viewer.id, ("Read", "Allow")) == 403
    answered = _rules(admin, f"datasources/{top}/permissions")
    assert answered[("user", viewer.id)] == {"Read": "Deny"}  # the project's defaults
    # Update Project back to ManagedByOwner: each data source's own rules decide again.
    changed = admin.call(
        "PUT",
        f"projects/{locked}",
        '<tsRequest><project contentPermissions="ManagedByOwner"/></tsRequest>',
    )
    assert changed.status_code == 200, changed.text
    assert _sees(viewer, "datasource", top) and _sees(viewer, "datasource", inner)
    # Locked without nested: only the project's own content is locked.
    admin.call(
        "PUT",
        f"projects/{locked}",
        '<tsRequest><project contentPermissions="LockedToProjectWithoutNested"/></tsRequest>',
    )
    assert not _sees(viewer, "datasource", top) and _sees(viewer, "datasource", inner)


def test_project_read_hides_the_project(admin: Rest, people: dict[str, Person]) -> None:
    viewer = people["viewer"]
    project = _project(admin)
    assert _grant(admin, f"projects/{project}", "user", viewer.id, ("Read", "Deny")) == 200
    listed = viewer.rest.call("GET", "projects", json_out=True, params={"pageSize": "1000"})
    assert project not in {p["id"] for p in listed.json()["projects"]["project"]}
    assert error_code(viewer.rest.call("GET", f"projects/{project}")) == "404005"
    assert people["creator"].rest.call("GET", f"projects/{project}").status_code == 200


def test_who_may_change_permissions(admin: Rest, people: dict[str, Person]) -> None:
    viewer, owner, creator = people["viewer"], people["owner"], people["creator"]
    project = _project(admin)
    workbook = _publish(owner.rest, "workbook", project)
    path = f"workbooks/{workbook}"
    # Owner yes; another Creator and a Viewer no.
    assert _grant(owner.rest, path, "user", viewer.id, ("Filter", "Allow")) == 200
    assert _grant(creator.rest, path, "user", viewer.id, ("Filter", "Deny")) == 403
    assert _grant(viewer.rest, path, "user", viewer.id, ("Filter", "Deny")) == 403
    # ChangePermissions granted: a Creator may; a Viewer's site role never holds it.
    assert _grant(owner.rest, path, "user", creator.id, ("ChangePermissions", "Allow")) == 200
    assert _grant(owner.rest, path, "user", viewer.id, ("ChangePermissions", "Allow")) == 200
    assert _grant(creator.rest, path, "user", viewer.id, ("Filter", "Deny")) == 200
    assert _grant(viewer.rest, path, "user", viewer.id, ("Filter", "Allow")) == 403
    # A project leader (through a group) has every capability on the project's content.
    leaders = admin.create_group(creator.id)
    other = _project(admin)
    hidden = _publish(owner.rest, "workbook", other)
    everyone = _all_users(admin)
    assert _grant(owner.rest, f"workbooks/{hidden}", "group", everyone, ("Read", "Deny")) == 200
    assert not _sees(creator, "workbook", hidden)
    assert _grant(admin, f"projects/{other}", "group", leaders, ("ProjectLeader", "Allow")) == 200
    assert _sees(creator, "workbook", hidden)
    assert _grant(creator.rest, f"workbooks/{hidden}", "user", viewer.id, ("Read", "Allow")) == 200
    # Leadership is inherited by the projects below, and reported there.
    child = _project(admin, other)
    assert _rules(admin, f"projects/{child}/permissions")[("group", leaders)] == {
        "InheritedProjectLeader": "Allow"
    }
    assert _grant(creator.rest, f"projects/{child}", "user", viewer.id, ("Read", "Allow")) == 200
