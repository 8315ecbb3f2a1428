"""Sites and users through unmodified TSC and raw HTTP."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import httpx
import pytest
import tableauserverclient as TSC

from tests.support.server import ServerProcess

NS = {"t": "http://tableau.com/api"}


def test_tsc_site_lifecycle(tsc: TSC.Server) -> None:
    created = tsc.sites.create(TSC.SiteItem("Marketing", "marketing"))
    assert created.id and created.content_url == "marketing"
    assert tsc.sites.get_by_id(tsc.site_id).name == "Default"  # TSC allows only its own id
    assert tsc.sites.get_by_name("Marketing").id == created.id
    names = {site.name for site in TSC.Pager(tsc.sites)}
    assert {"Default", "Marketing"} <= names
    # TSC updates only the signed-in site; rename another site with raw REST.
    response = httpx.put(
        f"{tsc.sites.baseurl}/{created.id}",
        content='<tsRequest><site name="Marketing EU"/></tsRequest>',
        headers={"X-Tableau-Auth": tsc.auth_token},
    )
    assert response.status_code == 200
    assert ET.fromstring(response.content).find("t:site", NS).get("name") == "Marketing EU"
    own = tsc.sites.get_by_id(tsc.site_id)
    own.name = "Default Renamed"
    assert tsc.sites.update(own).name == "Default Renamed"
    own.name = "Default"
    tsc.sites.update(own)
    with pytest.raises(TSC.ServerResponseError) as conflict:
        tsc.sites.create(TSC.SiteItem("Other", "marketing"))
    assert conflict.value.code == "409001"
    deleted = httpx.delete(
        f"{tsc.sites.baseurl}/{created.id}", headers={"X-Tableau-Auth": tsc.auth_token}
    )
    assert deleted.status_code == 204
    with pytest.raises(TSC.ServerResponseError) as missing:
        tsc.sites.get_by_name("Marketing EU")
    assert missing.value.code == "404000"


def test_tsc_user_lifecycle_and_filter(tsc: TSC.Server) -> None:
    user = tsc.users.add(TSC.UserItem("alice", TSC.UserItem.Roles.Explorer))
    assert user.site_role == "Explorer"
    found, pagination = tsc.users.get(_name_filter("alice"))
    assert [u.id for u in found] == [user.id]
    assert pagination.total_available == 1
    fetched = tsc.users.get_by_id(user.id)
    assert fetched.name == "alice"
    fetched.site_role = TSC.UserItem.Roles.SiteAdministratorCreator
    fetched.fullname = "Alice Liddell"
    updated = tsc.users.update(fetched, password="alice-password")
    assert updated.site_role == "SiteAdministratorCreator"
    # alice can now sign in with the password the admin set
    alice = TSC.Server(tsc.server_address, use_server_version=True)
    with alice.auth.sign_in(TSC.TableauAuth("alice", "alice-password", site_id="")):
        assert alice.users.get_by_id(user.id).fullname == "Alice Liddell"
    tsc.users.remove(user.id)
    with pytest.raises(TSC.ServerResponseError) as missing:
        tsc.users.get_by_id(user.id)
    assert missing.value.code == "404002"


def _name_filter(name: str) -> TSC.RequestOptions:
    options = TSC.RequestOptions()
    options.filter.add(
        TSC.Filter(TSC.RequestOptions.Field.Name, TSC.RequestOptions.Operator.Equals, name)
    )
    return options


def test_users_pagination(server: ServerProcess, admin_token: tuple[str, str, str]) -> None:
    token, site_id, _ = admin_token
    headers = {"X-Tableau-Auth": token}
    for i in range(5):
        response = httpx.post(
            f"{server.api()}/sites/{site_id}/users",
            content=f'<tsRequest><user name="pager{i}" siteRole="Viewer"/></tsRequest>',
            headers=headers,
        )
        assert response.status_code == 201
    response = httpx.get(
        f"{server.api()}/sites/{site_id}/users?filter=siteRole:eq:Viewer&pageSize=2&pageNumber=3",
        headers={**headers, "Accept": "application/json"},
    )
    body = response.json()
    assert body["pagination"] == {"pageNumber": "3", "pageSize": "2", "totalAvailable": "5"}
    assert [u["name"] for u in body["users"]["user"]] == ["pager4"]


def test_non_admin_cannot_manage_users_or_sites(
    server: ServerProcess, admin_token: tuple[str, str, str]
) -> None:
    token, site_id, _ = admin_token
    headers = {"X-Tableau-Auth": token}
    response = httpx.post(
        f"{server.api()}/sites/{site_id}/users",
        content='<tsRequest><user name="viewer1" siteRole="Viewer"/></tsRequest>',
        headers=headers,
    )
    user_id = ET.fromstring(response.content).find("t:user", NS).get("id")
    httpx.put(
        f"{server.api()}/sites/{site_id}/users/{user_id}",
        content='<tsRequest><user password="viewer-pw"/></tsRequest>',
        headers=headers,
    ).raise_for_status()
    viewer = TSC.Server(server.base_url, use_server_version=True)
    with viewer.auth.sign_in(TSC.TableauAuth("viewer1", "viewer-pw", site_id="")):
        with pytest.raises(TSC.ServerResponseError) as denied:
            viewer.users.add(TSC.UserItem("mallory", TSC.UserItem.Roles.Creator))
        assert denied.value.code.startswith("403")
        with pytest.raises(TSC.ServerResponseError) as denied:
            viewer.sites.create(TSC.SiteItem("Nope", "nope"))
        assert denied.value.code.startswith("403")


def test_create_pat_endpoint_then_sign_in_with_it(server: ServerProcess, admin_token) -> None:
    token, _, _ = admin_token
    response = httpx.post(
        f"{server.base_url}/tabhooks/v1/personal-access-tokens",
        json={"name": "made-by-api"},
        headers={"X-Tableau-Auth": token},
    )
    assert response.status_code == 201, response.text
    secret = response.json()["secret"]
    pat = TSC.Server(server.base_url, use_server_version=True)
    with pat.auth.sign_in(TSC.PersonalAccessTokenAuth("made-by-api", secret, "")):
        assert pat.auth_token
