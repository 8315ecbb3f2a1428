"""Capabilities enforced beyond Read (issue 18), on both back ends: one table of (the rules an
item carries, who calls, what they do) -> the status and Tableau code they get.

Every row publishes a fresh item as its owner (a Creator) into a project of its own kind of
rules, gives the item the row's rules (as an administrator, through Add Permissions), then
calls as the row's principal. What the rows pin down, from Tableau's documentation:

- Update needs Write, Delete needs Delete, Download needs ExportXml, Update Now needs
  ExtractRefresh or Write, tags need Write; owners, project leaders and administrators hold
  them all without a rule.
- A user's own rule beats their groups' rules; among groups, Deny beats Allow.
- The site role caps everything: a Viewer never updates or downloads, an Explorer never
  updates or refreshes, whatever the rules allow.
- An item the caller cannot Read is a 404, never a 403 that would confirm it exists.
- Refusals carry the method's code (403027 Update Workbook, 403032 Update Data Source and
  Update Now, 403019 Download Workbook, 403028 Download Data Source, 403004 Delete and tags,
  403025/403030 moving into a project without Write on it, 403027 a new owner).
- Project leaders certify data sources in their project and hand content over; owners and
  other Creators do not.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import tableauserverclient as TSC
from tableauserverclient.server.endpoint.exceptions import ServerResponseError

from tests.support import tableau_samples as samples
from tests.support.rest import NS, Rest, error_code
from tests.support.server import ServerProcess

PASSWORD = "capability-test-password-0123"
TWB = samples.workbook_xml(samples.connection_xml("hyper"), sheets=("Sales", "Profit"))
TDS = samples.datasource_xml(samples.connection_xml("postgres", server="db.local", dbname="s"))
ROLES = {
    "owner": "Creator",
    "creator": "Creator",
    "explorer": "Explorer",
    "viewer": "Viewer",
    "leader": "Creator",
}


@dataclass
class Person:
    id: str
    name: str
    rest: Rest


@dataclass
class World:
    """Who calls, their groups, and the project rows publish into."""

    admin: Rest
    people: dict[str, Person]
    #: Every principal but the owner and the leader is in ``team``; ``creator`` also in ``other``.
    groups: dict[str, str]
    project: str
    #: A project where nobody but administrators and its leaders may publish (Write).
    target: str

    def person(self, key: str) -> Rest:
        return self.admin if key == "admin" else self.people[key].rest


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _project(admin: Rest) -> str:
    made = admin.call(
        "POST", "projects", f'<tsRequest><project name="{_name("caps")}"/></tsRequest>',
        json_out=True,
    )  # fmt: skip
    assert made.status_code == 201, made.text
    return str(made.json()["project"]["id"])


def _grant(admin: Rest, path: str, grantee: str, grantee_id: str, name: str, mode: str) -> None:
    body = (
        f'<tsRequest><permissions><granteeCapabilities><{grantee} id="{grantee_id}"/>'
        f'<capabilities><capability name="{name}" mode="{mode}"/></capabilities>'
        "</granteeCapabilities></permissions></tsRequest>"
    )
    answer = admin.call("PUT", f"{path}/permissions", body)
    assert answer.status_code == 200, answer.text


@pytest.fixture(scope="module")
def world(server: ServerProcess) -> Iterator[World]:
    admin = Rest.sign_in(server)
    people: dict[str, Person] = {}
    for key, role in ROLES.items():
        name = _name(key)
        user_id = admin.add_user(name, role, PASSWORD)
        people[key] = Person(user_id, name, Rest.sign_in(server, name, PASSWORD))
    team = admin.create_group(*(people[k].id for k in ("creator", "explorer", "viewer")))
    other = admin.create_group(people["creator"].id)
    leaders = admin.create_group(people["leader"].id)
    project, target = _project(admin), _project(admin)
    _grant(admin, f"projects/{project}", "group", leaders, "ProjectLeader", "Allow")
    yield World(admin, people, {"team": team, "other": other}, project, target)
    for person in people.values():
        person.rest.close()
    admin.close()


def _publish(world: World, kind: str) -> str:
    """A fresh workbook or data source owned by ``owner``, with its project's defaults."""
    name = _name(kind)
    file = (
        ("tableau_workbook", f"{name}.twb", TWB)
        if kind == "workbook"
        else ("tableau_datasource", f"{name}.tds", TDS)
    )
    made = world.people["owner"].rest.publish(
        f"{kind}s",
        f'<tsRequest><{kind} name="{name}"><project id="{world.project}"/></{kind}></tsRequest>',
        file,
    )
    assert made.status_code == 201, made.text
    return str(made.json()[kind]["id"])


# -- what a row does ------------------------------------------------------------------------

Operation = Callable[[World, Rest, str, str], httpx.Response]


def _update(w: World, rest: Rest, kind: str, item: str) -> httpx.Response:
    return rest.call("PUT", f"{kind}s/{item}", f'<tsRequest><{kind} description="x"/></tsRequest>')


def _delete(w: World, rest: Rest, kind: str, item: str) -> httpx.Response:
    return rest.call("DELETE", f"{kind}s/{item}")


def _download(w: World, rest: Rest, kind: str, item: str) -> httpx.Response:
    return rest.call("GET", f"{kind}s/{item}/content")


def _refresh(w: World, rest: Rest, kind: str, item: str) -> httpx.Response:
    return rest.call("POST", f"{kind}s/{item}/refresh", "<tsRequest/>")


def _tag(w: World, rest: Rest, kind: str, item: str) -> httpx.Response:
    return rest.call("PUT", f"{kind}s/{item}/tags", '<tsRequest><tags><tag label="t"/></tags></tsRequest>')  # fmt: skip


def _tag_view(w: World, rest: Rest, kind: str, item: str) -> httpx.Response:
    listed = w.admin.call("GET", f"workbooks/{item}/views")
    view = ET.fromstring(listed.content).find(".//t:view", NS)
    assert view is not None, listed.text
    body = '<tsRequest><tags><tag label="t"/></tags></tsRequest>'
    return rest.call("PUT", f"views/{view.get('id')}/tags", body)


def _connection(w: World, rest: Rest, kind: str, item: str) -> httpx.Response:
    listed = w.admin.call("GET", f"{kind}s/{item}/connections")
    connection = ET.fromstring(listed.content).find(".//t:connection", NS)
    assert connection is not None, listed.text
    body = '<tsRequest><connection serverAddress="127.0.0.1"/></tsRequest>'
    return rest.call("PUT", f"{kind}s/{item}/connections/{connection.get('id')}", body)


def _move(w: World, rest: Rest, kind: str, item: str) -> httpx.Response:
    body = f'<tsRequest><{kind}><project id="{w.target}"/></{kind}></tsRequest>'
    return rest.call("PUT", f"{kind}s/{item}", body)


def _hand_over(w: World, rest: Rest, kind: str, item: str) -> httpx.Response:
    body = f'<tsRequest><{kind}><owner id="{w.people["creator"].id}"/></{kind}></tsRequest>'
    return rest.call("PUT", f"{kind}s/{item}", body)


def _certify(w: World, rest: Rest, kind: str, item: str) -> httpx.Response:
    return rest.call("PUT", f"{kind}s/{item}", f'<tsRequest><{kind} isCertified="true"/></tsRequest>')  # fmt: skip


OPERATIONS: dict[str, Operation] = {
    "update": _update,
    "delete": _delete,
    "download": _download,
    "refresh": _refresh,
    "tag": _tag,
    "tag view": _tag_view,
    "connection": _connection,
    "move": _move,
    "hand over": _hand_over,
    "certify": _certify,
}


@dataclass(frozen=True)
class Row:
    """``rules`` on the item: ``(grantee, capability, mode)``, grantee ``user`` (the caller)
    or a group of :attr:`World.groups`; ``expect``: ``(status, code or None)``."""

    kind: str
    rules: tuple[tuple[str, str, str], ...]
    who: str
    operation: str
    expect: tuple[int, str | None]


OK = (200, None)
WB, DS = "workbook", "datasource"
TABLE = (
    # No rule: the owner, the project's leader and administrators may; others may not.
    Row(WB, (), "owner", "update", OK),
    Row(WB, (), "leader", "update", OK),
    Row(WB, (), "admin", "update", OK),
    Row(WB, (), "creator", "update", (403, "403027")),
    Row(DS, (), "creator", "update", (403, "403032")),
    Row(WB, (), "creator", "delete", (403, "403004")),
    Row(WB, (), "leader", "delete", (204, None)),
    Row(WB, (), "owner", "download", OK),
    Row(WB, (), "creator", "download", (403, "403019")),
    Row(DS, (), "creator", "download", (403, "403028")),
    Row(DS, (), "creator", "refresh", (403, "403032")),
    Row(DS, (), "owner", "refresh", (202, None)),
    Row(WB, (), "creator", "tag", (403, "403004")),
    Row(WB, (), "creator", "tag view", (403, "403004")),
    Row(DS, (), "creator", "connection", (403, "403023")),
    Row(WB, (), "creator", "connection", (403, "403029")),
    # The capability each method needs, and only that one.
    Row(WB, (("user", "Write", "Allow"),), "creator", "update", OK),
    Row(DS, (("user", "Write", "Allow"),), "creator", "update", OK),
    Row(WB, (("user", "Write", "Allow"),), "creator", "tag", OK),
    Row(WB, (("user", "Write", "Allow"),), "creator", "tag view", OK),
    Row(DS, (("user", "Write", "Allow"),), "creator", "connection", OK),
    Row(WB, (("user", "Write", "Allow"),), "creator", "delete", (403, "403004")),
    Row(WB, (("user", "Delete", "Allow"),), "creator", "delete", (204, None)),
    Row(WB, (("user", "Delete", "Allow"),), "creator", "update", (403, "403027")),
    Row(WB, (("user", "ExportXml", "Allow"),), "creator", "download", OK),
    Row(DS, (("user", "ExportXml", "Allow"),), "creator", "download", OK),
    Row(DS, (("user", "ExtractRefresh", "Allow"),), "creator", "refresh", (202, None)),
    Row(WB, (("user", "Write", "Allow"),), "creator", "refresh", (202, None)),
    # Groups: any group's Allow grants; a group's Deny beats another group's Allow.
    Row(WB, (("team", "Write", "Allow"),), "creator", "update", OK),
    Row(WB, (("team", "Write", "Allow"), ("other", "Write", "Deny")), "creator", "update",
        (403, "403027")),
    Row(WB, (("team", "ExportXml", "Allow"), ("other", "ExportXml", "Deny")), "creator",
        "download", (403, "403019")),
    # The user's own rule beats their groups' rules, either way.
    Row(WB, (("team", "Write", "Allow"), ("user", "Write", "Deny")), "creator", "update",
        (403, "403027")),
    Row(WB, (("team", "Write", "Deny"), ("user", "Write", "Allow")), "creator", "update", OK),
    # Site roles cap the rules: Viewers never download or change, Explorers never change.
    Row(WB, (("user", "Write", "Allow"),), "viewer", "update", (403, "403027")),
    Row(WB, (("user", "ExportXml", "Allow"),), "viewer", "download", (403, "403019")),
    Row(WB, (("user", "ExportXml", "Allow"),), "explorer", "download", OK),
    Row(WB, (("user", "Write", "Allow"),), "explorer", "update", (403, "403027")),
    Row(DS, (("user", "ExtractRefresh", "Allow"),), "explorer", "refresh", (403, "403032")),
    Row(WB, (("user", "Delete", "Allow"),), "explorer", "delete", (403, "403004")),
    # No Read: the item does not exist for the caller, whatever else they hold.
    Row(WB, (("user", "Read", "Deny"), ("user", "Write", "Allow")), "creator", "update",
        (404, "404006")),
    Row(DS, (("user", "Read", "Deny"), ("user", "ExportXml", "Allow")), "creator", "download",
        (404, "404012")),
    Row(DS, (("user", "Read", "Deny"),), "creator", "refresh", (404, "404012")),
    Row(WB, (("team", "Read", "Deny"),), "explorer", "tag", (404, "404006")),
    # Moving needs Write on the target project too; a new owner is for administrators and
    # project leaders; certifying is for administrators and project leaders.
    Row(WB, (("user", "Write", "Allow"),), "creator", "move", (403, "403025")),
    Row(DS, (("user", "Write", "Allow"),), "creator", "move", (403, "403030")),
    Row(WB, (), "owner", "move", (403, "403025")),
    Row(WB, (), "admin", "move", OK),
    Row(WB, (), "owner", "hand over", (403, "403027")),
    Row(DS, (), "owner", "hand over", (403, "403027")),
    Row(WB, (), "leader", "hand over", OK),
    Row(DS, (), "leader", "certify", OK),
    Row(DS, (), "owner", "certify", (403, "403000")),
    Row(DS, (("user", "Write", "Allow"),), "creator", "certify", (403, "403000")),
)  # fmt: skip


def _id(row: Row) -> str:
    rules = "+".join(f"{g}:{c}:{m}" for g, c, m in row.rules) or "no-rule"
    return f"{row.kind}-{rules}-{row.who}-{row.operation}"


@pytest.mark.parametrize("row", TABLE, ids=[_id(r) for r in TABLE])
def test_capability_table(world: World, row: Row) -> None:
    item = _publish(world, row.kind)
    for grantee, capability, mode in row.rules:
        if grantee == "user":
            grantee_type, grantee_id = "user", world.people[row.who].id
        else:
            grantee_type, grantee_id = "group", world.groups[grantee]
        _grant(world.admin, f"{row.kind}s/{item}", grantee_type, grantee_id, capability, mode)
    answer = OPERATIONS[row.operation](world, world.person(row.who), row.kind, item)
    status, code = row.expect
    assert answer.status_code == status, answer.text
    if code is not None:
        assert error_code(answer) == code, answer.text


def test_refused_changes_change_nothing(world: World) -> None:
    """A 403 leaves the item as it was: the refused update, delete and owner change."""
    item = _publish(world, WB)
    creator = world.people["creator"].rest
    assert _update(world, creator, WB, item).status_code == 403
    assert _delete(world, creator, WB, item).status_code == 403
    assert _hand_over(world, world.people["owner"].rest, WB, item).status_code == 403
    shown = world.admin.call("GET", f"workbooks/{item}", json_out=True).json()["workbook"]
    assert shown.get("description", "") == ""
    assert shown["owner"]["id"] == world.people["owner"].id


@pytest.fixture()
def leader_tsc(server: ServerProcess, world: World) -> Iterator[TSC.Server]:
    signed_in = TSC.Server(server.base_url, use_server_version=True)
    signed_in.auth.sign_in(TSC.TableauAuth(world.people["leader"].name, PASSWORD))
    yield signed_in
    signed_in.auth.sign_out()


@pytest.fixture()
def creator_tsc(server: ServerProcess, world: World) -> Iterator[TSC.Server]:
    signed_in = TSC.Server(server.base_url, use_server_version=True)
    signed_in.auth.sign_in(TSC.TableauAuth(world.people["creator"].name, PASSWORD))
    yield signed_in
    signed_in.auth.sign_out()


def test_tsc_project_leader_certifies_a_datasource_in_their_project(
    world: World, leader_tsc: TSC.Server
) -> None:
    item = _publish(world, DS)
    found = leader_tsc.datasources.get_by_id(item)
    found.certified = True
    found.certification_note = "Checked by the project's leader"
    updated = leader_tsc.datasources.update(found)
    assert (updated.certified, updated.certification_note) == (
        True,
        "Checked by the project's leader",
    )
    # Outside the project they lead, they are any Creator: without Write they cannot even
    # update the data source there (Update Data Source's 403032), let alone certify it.
    elsewhere = world.admin.publish(
        "datasources",
        f'<tsRequest><datasource name="{_name("ds")}"><project id="{world.target}"/>'
        "</datasource></tsRequest>",
        ("tableau_datasource", "elsewhere.tds", TDS),
    )
    other = leader_tsc.datasources.get_by_id(str(elsewhere.json()["datasource"]["id"]))
    other.certified = True
    with pytest.raises(ServerResponseError) as refused:
        leader_tsc.datasources.update(other)
    assert refused.value.code == "403032"
    assert world.admin.call("GET", f"datasources/{other.id}", json_out=True).json()[
        "datasource"
    ].get("isCertified") in (False, None)


def test_tsc_download_and_update_refused_then_granted(
    world: World, creator_tsc: TSC.Server, tmp_path: Path
) -> None:
    item = _publish(world, WB)
    with pytest.raises(ServerResponseError) as refused:
        creator_tsc.workbooks.download(item, filepath=str(tmp_path))
    assert refused.value.code == "403019"
    _grant(world.admin, f"workbooks/{item}", "group", world.groups["team"], "ExportXml", "Allow")
    _grant(world.admin, f"workbooks/{item}", "group", world.groups["team"], "Write", "Allow")
    saved = Path(creator_tsc.workbooks.download(item, filepath=str(tmp_path)))
    assert saved.read_bytes() == TWB
    workbook = creator_tsc.workbooks.get_by_id(item)
    workbook.show_tabs = True
    assert creator_tsc.workbooks.update(workbook).show_tabs is True
