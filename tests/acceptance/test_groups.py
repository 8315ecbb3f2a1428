"""Groups (Tableau's Users and Groups methods): unmodified TSC for what TSC has, raw XML and
JSON for the rest, on both back ends — including the "All Users" group every site has.

The TSC tests make the calls TSC's samples ``create_group.py`` and ``filter_sort_groups.py``
make, signed in with a personal access token as the samples sign in.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET

import pytest
import tableauserverclient as TSC
from tableauserverclient.server.endpoint.exceptions import ServerResponseError

from tests.support.rest import NS, Rest, error_code
from tests.support.server import ServerProcess

PASSWORD = "group-test-password-0123"


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _user(admin: Rest, role: str = "Viewer") -> tuple[str, str]:
    name = _name("member")
    return admin.add_user(name, role, PASSWORD), name


def _groups(response_body: bytes) -> list[ET.Element]:
    return ET.fromstring(response_body).findall(".//t:group", NS)


def test_tsc_create_populate_add_remove_update_delete(pat_tsc: TSC.Server, admin: Rest) -> None:
    alice, alice_name = _user(admin)
    bob, bob_name = _user(admin, "Creator")
    name = _name("sales")
    group = TSC.GroupItem(name)
    group.minimum_site_role = TSC.UserItem.Roles.Viewer
    created = pat_tsc.groups.create(group)
    assert created.id and created.name == name
    assert created.minimum_site_role == "Viewer" and created.domain_name == "local"

    # The sample's "already exists": 409009, and the group is found by name.
    with pytest.raises(ServerResponseError) as exists:
        pat_tsc.groups.create(TSC.GroupItem(name.upper()))
    assert exists.value.code == "409009"
    (found,) = pat_tsc.groups.filter(name=name)
    assert found.id == created.id and found.user_count == 0

    added = pat_tsc.groups.add_user(created, alice)
    assert added.id == alice and added.name == alice_name and added.site_role == "Viewer"
    with pytest.raises(ServerResponseError) as member:
        pat_tsc.groups.add_user(created, alice)
    assert member.value.code == "409011"
    (both,) = [pat_tsc.groups.add_users(created, [alice, bob])]
    assert {u.id for u in both} == {alice, bob}

    pat_tsc.groups.populate_users(created)
    assert sorted(u.name for u in created.users) == sorted([alice_name, bob_name])

    user = pat_tsc.users.get_by_id(alice)
    pat_tsc.users.populate_groups(user)
    assert {g.name for g in user.groups} == {"All Users", name}

    pat_tsc.groups.remove_user(created, bob)
    pat_tsc.groups.populate_users(created)
    assert [u.id for u in created.users] == [alice]
    pat_tsc.groups.remove_users(created, [alice])
    pat_tsc.groups.populate_users(created)
    assert list(created.users) == []

    created.name = name + "-renamed"
    created.minimum_site_role = TSC.UserItem.Roles.Explorer
    updated = pat_tsc.groups.update(created)
    assert updated.name == name + "-renamed" and updated.minimum_site_role == "Explorer"

    pat_tsc.groups.delete(created.id)
    assert not list(pat_tsc.groups.filter(name=name + "-renamed"))


def test_filter_and_sort_as_the_sample_does(pat_tsc: TSC.Server) -> None:
    names = [_name("SALES NORTHWEST"), _name("SALES ROMANIA")]
    for name in names:
        pat_tsc.groups.create(TSC.GroupItem(name))
    options = TSC.RequestOptions()
    options.filter.add(
        TSC.Filter(TSC.RequestOptions.Field.Name, TSC.RequestOptions.Operator.Equals, names[1])
    )
    matched, _ = pat_tsc.groups.get(req_options=options)
    assert [g.name for g in matched] == [names[1]]

    options = TSC.RequestOptions()
    options.filter.add(
        TSC.Filter(TSC.RequestOptions.Field.Name, TSC.RequestOptions.Operator.In, names)
    )
    options.sort.add(TSC.Sort(TSC.RequestOptions.Field.Name, TSC.RequestOptions.Direction.Desc))
    matched, pagination = pat_tsc.groups.get(req_options=options)
    assert [g.name for g in matched] == sorted(names, reverse=True)
    assert pagination.total_available == 2
    assert [g.name for g in pat_tsc.groups.filter(name__in=names).order_by("-name")] == sorted(
        names, reverse=True
    )
    everyone = [g for g in pat_tsc.groups.all() if g.name == "All Users"]
    assert len(everyone) == 1


def test_all_users_holds_every_site_user_and_cannot_go(admin: Rest) -> None:
    user_id, _ = _user(admin)
    listed = admin.call("GET", "groups", params={"filter": "name:eq:All Users"})
    assert listed.status_code == 200, listed.text
    (everyone,) = _groups(listed.content)
    group_id = everyone.get("id")
    assert everyone.get("userCount") == str(admin.total("users"))
    members = admin.call("GET", f"groups/{group_id}/users", json_out=True)
    assert members.status_code == 200, members.text
    assert int(members.json()["pagination"]["totalAvailable"]) == admin.total("users")
    assert user_id in {u["id"] for u in members.json()["users"]["user"]}

    again = admin.call(
        "POST", f"groups/{group_id}/users", f'<tsRequest><user id="{user_id}"/></tsRequest>'
    )
    assert again.status_code == 409 and error_code(again) == "409011"
    for method, path, body in (
        ("DELETE", f"groups/{group_id}", None),
        ("DELETE", f"groups/{group_id}/users/{user_id}", None),
        ("PUT", f"groups/{group_id}", '<tsRequest><group name="Everyone"/></tsRequest>'),
    ):
        refused = admin.call(method, path, body)
        assert refused.status_code == 403, (method, path, refused.text)
        assert error_code(refused) == "403000"
    # Leaving the site is leaving All Users (and every group).
    other = admin.call("POST", "groups", f'<tsRequest><group name="{_name("g")}"/></tsRequest>')
    other_id = _groups(other.content)[0].get("id")
    assert (
        admin.call(
            "POST", f"groups/{other_id}/users", f'<tsRequest><user id="{user_id}"/></tsRequest>'
        ).status_code
        == 200
    )
    assert admin.call("DELETE", f"users/{user_id}").status_code == 204
    left = admin.call("GET", f"groups/{other_id}/users", json_out=True)
    assert left.json()["pagination"]["totalAvailable"] == "0"
    assert "user" not in left.json()["users"]


def test_json_create_update_and_groups_of_a_user(admin: Rest) -> None:
    name = _name("json")
    created = admin.call(
        "POST", "groups", f'{{"group": {{"name": "{name}", "minimumSiteRole": "Creator"}}}}',
        json_out=True,
    )  # fmt: skip
    assert created.status_code == 201, created.text
    group = created.json()["group"]
    assert group["name"] == name and group["domain"]["name"] == "local"
    assert group["import"]["siteRole"] == "Creator" and group["userCount"] == "0"
    user_id, _ = _user(admin)
    added = admin.call(
        "POST", f"groups/{group['id']}/users", f'{{"user": {{"id": "{user_id}"}}}}', json_out=True
    )
    assert added.status_code == 200 and added.json()["user"]["id"] == user_id
    mine = admin.call("GET", f"users/{user_id}/groups", json_out=True)
    assert mine.status_code == 200, mine.text
    assert sorted(g["name"] for g in mine.json()["groups"]["group"]) == sorted(["All Users", name])
    renamed = admin.call(
        "PUT", f"groups/{group['id']}", '{"group": {"name": "' + name + '-2"}}', json_out=True
    )
    assert renamed.status_code == 200 and renamed.json()["group"]["name"] == f"{name}-2"
    assert renamed.json()["group"]["userCount"] == "1"


def test_bad_input_and_unknown_ids(admin: Rest) -> None:
    missing = str(uuid.uuid4())
    cases = [
        ("POST", "groups", "<tsRequest><group/></tsRequest>", 400, "400000"),
        ("POST", "groups", '<tsRequest><group name="  "/></tsRequest>', 400, "400000"),
        ("POST", "groups", '<tsRequest><group name="x" minimumSiteRole="Boss"/></tsRequest>', 400, "400000"),
        (
            "POST", "groups",
            '<tsRequest><group name="ad"><import source="ActiveDirectory" domainName="corp"/></group></tsRequest>',
            400, "400000",
        ),
        ("GET", f"groups/{missing}/users", None, 404, "404002"),
        ("PUT", f"groups/{missing}", '<tsRequest><group name="x"/></tsRequest>', 404, "404002"),
        ("DELETE", f"groups/{missing}", None, 404, "404002"),
        ("GET", f"users/{missing}/groups", None, 404, "404002"),
        ("GET", "groups", None, 200, None),
    ]  # fmt: skip
    for method, path, body, status, code in cases:
        answer = admin.call(method, path, body)
        assert answer.status_code == status, (method, path, answer.text)
        if code:
            assert error_code(answer) == code, (method, path, answer.text)
    bad_filter = admin.call("GET", "groups", params={"filter": "color:eq:red"})
    assert bad_filter.status_code == 400 and "name" in bad_filter.text
    group = _groups(
        admin.call("POST", "groups", f'<tsRequest><group name="{_name("b")}"/></tsRequest>').content
    )[0].get("id")
    no_user = admin.call(
        "POST", f"groups/{group}/users", f'<tsRequest><user id="{missing}"/></tsRequest>'
    )
    assert no_user.status_code == 404 and error_code(no_user) == "404002"
    not_in = admin.call("DELETE", f"groups/{group}/users/{missing}")
    assert not_in.status_code == 404 and error_code(not_in) == "404002"


def test_only_administrators_change_groups_members_read_them(
    server: ServerProcess, admin: Rest
) -> None:
    _, creator_name = _user(admin, "Creator")
    creator = Rest.sign_in(server, creator_name, PASSWORD)
    try:
        refused = creator.call(
            "POST", "groups", f'<tsRequest><group name="{_name("c")}"/></tsRequest>'
        )
        assert refused.status_code == 403 and error_code(refused) == "403000"
        listed = creator.call("GET", "groups")
        assert listed.status_code == 200 and any(
            g.get("name") == "All Users" for g in _groups(listed.content)
        )
    finally:
        creator.close()
