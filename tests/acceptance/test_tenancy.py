"""Several teams on one server: what a site's admins, Creators and strangers may and may not do.

Tenants ``tenant-a`` and ``tenant-b`` each have their own site administrator; ``alice`` is a
Viewer of ``tenant-a``. Users are server-wide, as on Tableau Server, so the admin of
``tenant-b`` may add alice to their site, but only a server administrator changes the name,
email or password of a user who belongs to another site (or of a server administrator).
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import tableauserverclient as TSC

from tests.conftest import database_url_for
from tests.support.rest import API_VERSION, NS, Rest, error_code
from tests.support.server import ADMIN_PASSWORD, ADMIN_USERNAME, ServerProcess
from tests.support.tableau_samples import connection_xml, datasource_xml

PASSWORD = "tenant-password-1"


@pytest.fixture(scope="module")
def server(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """Without the dispatcher: queued jobs stay queued, so cancelling them is deterministic."""
    workdir = tmp_path_factory.mktemp("tenancy")
    running = ServerProcess(
        database_url_for(backend, request, workdir), workdir, args=("--dev", "--no-dispatcher")
    ).start()
    yield running
    running.stop()


@dataclass
class Tenants:
    server: ServerProcess
    admin: Rest  # the server administrator, on the default site
    admin_a: Rest  # the server administrator, on tenant-a
    admin_b: Rest  # the server administrator, on tenant-b
    boss_b: Rest  # tenant-b's site administrator (tenant-b only)
    alice_id: str  # a Viewer of tenant-a

    def sign_in(self, name: str, password: str = PASSWORD, site: str = "") -> Rest:
        return Rest.sign_in(self.server, name, password, site)


def _site(admin: Rest, name: str, content_url: str) -> str:
    created = admin.http.post(
        f"{admin.server.api(API_VERSION)}/sites",
        content=f'<tsRequest><site name="{name}" contentUrl="{content_url}"/></tsRequest>',
        headers={"X-Tableau-Auth": admin.token},
    )
    assert created.status_code == 201, created.text
    return str(ET.fromstring(created.content).find("t:site", NS).get("id"))  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def tenants(server: ServerProcess) -> Iterator[Tenants]:
    admin = Rest.sign_in(server)
    _site(admin, "Tenant A", "tenant-a")
    _site(admin, "Tenant B", "tenant-b")
    admin_a = Rest.sign_in(server, site="tenant-a")
    admin_b = Rest.sign_in(server, site="tenant-b")
    alice_id = admin_a.add_user("alice", "Viewer", PASSWORD)
    set_email = admin_a.call(
        "PUT",
        f"users/{alice_id}",
        '<tsRequest><user email="alice@a.example" fullName="Alice A"/></tsRequest>',
    )
    assert set_email.status_code == 200, set_email.text
    admin_b.add_user("boss-b", "SiteAdministratorCreator", PASSWORD)
    Rest.sign_in(server, "alice", PASSWORD, "tenant-a").close()  # alice has a last sign-in
    boss_b = Rest.sign_in(server, "boss-b", PASSWORD, "tenant-b")
    yield Tenants(server, admin, admin_a, admin_b, boss_b, alice_id)


def _user(response: httpx.Response) -> ET.Element:
    node = ET.fromstring(response.content).find("t:user", NS)
    assert node is not None, response.text
    return node


def _put_user(rest: Rest, user_id: str, **attrs: str) -> httpx.Response:
    fields = " ".join(f'{k}="{v}"' for k, v in attrs.items())
    return rest.call("PUT", f"users/{user_id}", f"<tsRequest><user {fields}/></tsRequest>")


def _can_sign_in(server: ServerProcess, name: str, password: str, site: str = "") -> bool:
    body = (
        f'<tsRequest><credentials name="{name}" password="{password}">'
        f'<site contentUrl="{site}"/></credentials></tsRequest>'
    )
    return httpx.post(f"{server.api()}/auth/signin", content=body).status_code == 200


# ------------------------------------------------------------- users are server-wide


def test_site_admin_cannot_change_the_server_administrator(tenants: Tenants) -> None:
    boss, admin_id = tenants.boss_b, tenants.admin.user_id
    assert _put_user(tenants.admin, admin_id, email="root@example.com").status_code == 200
    for attrs in ({"password": "taken-over"}, {"email": "boss@b.example"}, {"name": "admin2"}):
        response = _put_user(boss, admin_id, **attrs)
        assert response.status_code == 403, response.text
        assert error_code(response) == "403000"
    assert _can_sign_in(tenants.server, ADMIN_USERNAME, ADMIN_PASSWORD)
    assert not _can_sign_in(tenants.server, ADMIN_USERNAME, "taken-over")
    shown = _user(boss.call("GET", f"users/{admin_id}"))
    assert shown.get("email") is None  # the server administrator's email is not theirs to see


def test_adopting_another_sites_user_reveals_and_changes_nothing_of_theirs(
    tenants: Tenants,
) -> None:
    boss, alice_id = tenants.boss_b, tenants.alice_id
    added = boss.call(
        "POST", "users", '<tsRequest><user name="alice" siteRole="Viewer"/></tsRequest>'
    )
    assert added.status_code == 201, added.text
    node = _user(added)
    assert node.get("id") == alice_id  # the same server-wide user, added to tenant-b
    assert set(node.attrib) == {"id", "name", "siteRole", "authSetting"}  # Tableau's answer
    listed = boss.call("GET", "users", json_out=True, params={"filter": "name:eq:alice"})
    assert listed.status_code == 200
    (seen,) = listed.json()["users"]["user"]
    assert "email" not in seen  # tenant-a's email for her stays with tenant-a
    assert "lastLogin" not in seen  # she signed in to tenant-a, never to tenant-b
    assert _user(boss.call("GET", f"users/{alice_id}")).get("email") is None
    for attrs in (
        {"password": "boss-knows-it"},
        {"email": "alice@b.example"},
        {"fullName": "Not Alice"},
        {"name": "alice2"},
    ):
        response = _put_user(boss, alice_id, **attrs)
        assert response.status_code == 403, (attrs, response.text)
    assert not _can_sign_in(tenants.server, "alice", "boss-knows-it", "tenant-a")
    assert _can_sign_in(tenants.server, "alice", PASSWORD, "tenant-a")
    # Her role on tenant-b is tenant-b's business.
    promoted = _put_user(boss, alice_id, siteRole="Explorer")
    assert promoted.status_code == 200, promoted.text
    assert _user(promoted).get("siteRole") == "Explorer"
    # Removing her from tenant-b leaves her on tenant-a, password and all.
    assert boss.call("DELETE", f"users/{alice_id}").status_code == 204
    assert _can_sign_in(tenants.server, "alice", PASSWORD, "tenant-a")
    assert not _can_sign_in(tenants.server, "alice", PASSWORD, "tenant-b")
    own = tenants.admin_a.call("GET", f"users/{alice_id}")
    assert _user(own).get("email") == "alice@a.example"  # the server admin sees it


def test_site_admin_manages_users_of_their_own_site_alone(tenants: Tenants) -> None:
    boss = tenants.boss_b
    added = boss.call(
        "POST", "users", '<tsRequest><user name="bob-b" siteRole="Creator"/></tsRequest>'
    )
    bob_id = str(_user(added).get("id"))
    changed = _put_user(boss, bob_id, password="bob-pw", email="bob@b.example", fullName="Bob")
    assert changed.status_code == 200, changed.text
    assert _user(changed).get("email") == "bob@b.example"
    assert _can_sign_in(tenants.server, "bob-b", "bob-pw", "tenant-b")
    # Once bob also belongs to tenant-a, tenant-b's admin can no longer set his password.
    tenants.admin_a.call(
        "POST", "users", '<tsRequest><user name="bob-b" siteRole="Viewer"/></tsRequest>'
    )
    assert _put_user(boss, bob_id, password="again").status_code == 403
    # Only a server administrator changes anyone.
    assert _put_user(tenants.admin_b, bob_id, password="by-the-operator").status_code == 200
    assert _can_sign_in(tenants.server, "bob-b", "by-the-operator", "tenant-a")
    # Removing him from tenant-b does not delete him: he still belongs to tenant-a.
    assert boss.call("DELETE", f"users/{bob_id}").status_code == 204
    assert _can_sign_in(tenants.server, "bob-b", "by-the-operator", "tenant-a")
    assert tenants.admin_a.call("DELETE", f"users/{bob_id}").status_code == 204
    assert not _can_sign_in(tenants.server, "bob-b", "by-the-operator", "tenant-a")


# ------------------------------------------------------------------------- sites


def test_default_site_keeps_its_content_url(tenants: Tenants) -> None:
    admin = tenants.admin
    default_url = f"{admin.server.api(API_VERSION)}/sites/{admin.site_id}"
    headers = {"X-Tableau-Auth": admin.token}
    moved = admin.http.put(
        default_url, content='<tsRequest><site contentUrl="moved"/></tsRequest>', headers=headers
    )
    assert moved.status_code == 403, moved.text
    same = admin.http.put(
        default_url, content='<tsRequest><site contentUrl=""/></tsRequest>', headers=headers
    )
    assert same.status_code == 200, same.text
    assert admin.http.delete(default_url, headers=headers).status_code == 403
    assert _can_sign_in(tenants.server, ADMIN_USERNAME, ADMIN_PASSWORD, "")
    # A site admin of the default site may not move it either.
    admin.add_user("boss-default", "SiteAdministratorCreator", PASSWORD)
    boss = tenants.sign_in("boss-default")
    moved = boss.http.put(
        default_url,
        content='<tsRequest><site contentUrl="moved"/></tsRequest>',
        headers={"X-Tableau-Auth": boss.token},
    )
    assert moved.status_code == 403
    claimed = admin.http.post(
        f"{admin.server.api(API_VERSION)}/sites",
        content='<tsRequest><site name="Squatter" contentUrl=""/></tsRequest>',
        headers=headers,
    )
    assert claimed.status_code == 409


def test_tsc_updates_its_own_site_with_every_attribute_sent_back(tenants: Tenants) -> None:
    boss = TSC.Server(tenants.server.base_url, use_server_version=True)
    with boss.auth.sign_in(TSC.TableauAuth("boss-b", PASSWORD, site_id="tenant-b")):
        site = boss.sites.get_by_id(boss.site_id)
        site.name = "Tenant B Renamed"
        assert boss.sites.update(site).name == "Tenant B Renamed"
        site.name = "Tenant B"
        boss.sites.update(site)


def test_suspended_site_refuses_sign_in_and_ends_sessions(tenants: Tenants) -> None:
    admin = tenants.admin
    site_id = _site(admin, "Tenant C", "tenant-c")
    admin_c = Rest.sign_in(tenants.server, site="tenant-c")
    admin_c.add_user("carol", "Creator", PASSWORD)
    admin_c.add_user("boss-c", "SiteAdministratorCreator", PASSWORD)
    carol, boss = (
        tenants.sign_in("carol", site="tenant-c"),
        tenants.sign_in("boss-c", site="tenant-c"),
    )
    assert carol.call("GET", "users").status_code == 200
    site_url = f"{admin.server.api(API_VERSION)}/sites/{site_id}"

    def set_state(rest: Rest, state: str) -> httpx.Response:
        return rest.http.put(
            site_url,
            content=f'<tsRequest><site state="{state}"/></tsRequest>',
            headers={"X-Tableau-Auth": rest.token},
        )

    assert set_state(boss, "Suspended").status_code == 403  # only a server admin suspends
    assert set_state(admin, "Suspended").status_code == 200
    for rest in (carol, boss):
        refused = rest.call("GET", "users")
        assert refused.status_code == 401 and error_code(refused) == "401002"
    wrong = httpx.post(
        f"{tenants.server.api()}/auth/signin",
        content='<tsRequest><credentials name="carol" password="wrong">'
        '<site contentUrl="tenant-c"/></credentials></tsRequest>',
    )
    right = httpx.post(
        f"{tenants.server.api()}/auth/signin",
        content=f'<tsRequest><credentials name="carol" password="{PASSWORD}">'
        '<site contentUrl="tenant-c"/></credentials></tsRequest>',
    )
    assert right.status_code == 401 and right.content == wrong.content  # nothing told apart
    assert _can_sign_in(tenants.server, ADMIN_USERNAME, ADMIN_PASSWORD, "tenant-c")
    assert set_state(admin, "Active").status_code == 200
    assert _can_sign_in(tenants.server, "carol", PASSWORD, "tenant-c")


# -------------------------------------------------------------------------- jobs


def test_only_the_owner_or_an_admin_cancels_a_job(tenants: Tenants, tmp_path: Path) -> None:
    admin_b = tenants.admin_b
    admin_b.add_user("maker-b", "Creator", PASSWORD)
    admin_b.add_user("other-b", "Creator", PASSWORD)
    maker = TSC.Server(tenants.server.base_url, use_server_version=True)
    maker.auth.sign_in(TSC.TableauAuth("maker-b", PASSWORD, site_id="tenant-b"))
    try:
        options = TSC.RequestOptions()
        options.filter.add(TSC.Filter("name", "eq", "Default"))
        project_id = maker.projects.get(options)[0][0].id
        path = tmp_path / "Orders.tds"
        path.write_bytes(datasource_xml(connection_xml("sqlite", filename="orders.db"), "Orders"))
        source = maker.datasources.publish(
            TSC.DatasourceItem(project_id, name="Orders"),
            str(path),
            TSC.Server.PublishMode.CreateNew,
        )
        first = maker.datasources.refresh(source)
        other = tenants.sign_in("other-b", site="tenant-b")
        refused = other.call("PUT", f"jobs/{first.id}", "<tsRequest/>")
        assert refused.status_code == 403, refused.text
        assert error_code(refused) == "403000"
        assert maker.jobs.get_by_id(first.id).finish_code == -1  # still queued (no finishCode)
        maker.jobs.cancel(first.id)  # its owner may
        second = maker.datasources.refresh(source)
        by_admin = tenants.boss_b.call("PUT", f"jobs/{second.id}", "<tsRequest/>")
        assert by_admin.status_code == 200, by_admin.text  # so may the site's admin
    finally:
        maker.auth.sign_out()


# ---------------------------------------------------------------- names stay home


def test_fire_event_names_only_the_callers_own_site(tenants: Tenants) -> None:
    def fire(rest: Rest, luid: str) -> httpx.Response:
        return rest.http.post(
            f"{rest.ops_url}/events",
            json={"event": "SiteUpdated", "resource_luid": luid},
            headers={"X-Tableau-Auth": rest.token},
        )

    boss = tenants.boss_b
    other_site = fire(boss, tenants.admin_a.site_id)
    unknown = fire(boss, str(uuid.uuid4()))
    assert other_site.status_code == 400 and unknown.status_code == 400
    assert "Tenant A" not in other_site.text
    assert other_site.json()["error"] == {**unknown.json()["error"]}
    own = fire(boss, boss.site_id)
    assert own.status_code == 201, own.text
    assert own.json()["resource_name"] == "Tenant B"


def test_sign_in_failures_all_answer_alike(tenants: Tenants) -> None:
    def sign_in(name: str, password: str, site: str) -> httpx.Response:
        return httpx.post(
            f"{tenants.server.api()}/auth/signin",
            content=f'<tsRequest><credentials name="{name}" password="{password}">'
            f'<site contentUrl="{site}"/></credentials></tsRequest>',
        )

    answers = [
        sign_in("alice", PASSWORD, "no-such-site"),  # right password, no such site
        sign_in("alice", PASSWORD, "tenant-b"),  # right password, not a member
        sign_in("alice", "wrong", "tenant-a"),  # wrong password
        sign_in("nobody-here", "wrong", "tenant-a"),  # no such user
    ]
    assert {r.status_code for r in answers} == {401}
    assert {error_code(r) for r in answers} == {"401001"}
    assert len({r.content for r in answers}) == 1, [r.text for r in answers]


def test_switch_site_answers_alike_for_missing_and_forbidden_sites(tenants: Tenants) -> None:
    alice = tenants.sign_in("alice", site="tenant-a")

    def switch(content_url: str) -> httpx.Response:
        return alice.http.post(
            f"{tenants.server.api()}/auth/switchSite",
            content=f'<tsRequest><site contentUrl="{content_url}"/></tsRequest>',
            headers={"X-Tableau-Auth": alice.token},
        )

    missing, forbidden = switch("no-such-site"), switch("tenant-b")
    assert missing.status_code == forbidden.status_code == 404
    assert error_code(missing) == error_code(forbidden) == "404000"
    assert missing.text.replace("no-such-site", "X") == forbidden.text.replace("tenant-b", "X")
    assert alice.call("GET", f"users/{alice.user_id}").status_code == 200  # still signed in


def test_pat_creation_for_others_is_refused_before_any_lookup(tenants: Tenants) -> None:
    alice = tenants.sign_in("alice", site="tenant-a")
    url = f"{tenants.server.base_url}/tabhooks/v1/personal-access-tokens"
    answers = [
        alice.http.post(
            url, json={"name": "t", "user": user}, headers={"X-Tableau-Auth": alice.token}
        )
        for user in (ADMIN_USERNAME, "nobody-at-all")
    ]
    assert [r.status_code for r in answers] == [403, 403]
    assert answers[0].json()["error"] == answers[1].json()["error"]
