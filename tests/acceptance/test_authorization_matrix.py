"""Who may do what, for every route the app has: one table, checked against a real server.

:data:`MATRIX` holds, for every (method, path template) of the app's route table, the outcome
each principal must get — anonymous, every site role on its own site, the owner of the
content, a user made Unlicensed, a site administrator of *another* site, and the server
administrator (see :mod:`tests.support.authz`). A route added without a row fails
:func:`test_every_route_has_a_row`, so nothing new ships unexamined.

The rules are Tableau's (docs/content.md, docs/webhooks-api.md, docs/inspector.md, issue 13):
webhooks, deliveries, relays, jobs lists and events are for site and server administrators;
publishing is for Creators and Explorers who can publish; changing content (and its
connections and data quality warnings) for its owner and administrators; cancelling a job
for whoever queued it and administrators; users change their own names and password, and a
site administrator changes identity fields only of users of no other site who are not server
administrators; sites are created and deleted by the server administrator; bins are seen by
their site and managed (changed, cleared, deleted, replayed, secret shown) by their maker and
administrators. A site administrator of site B who puts A's ids in B's paths finds nothing
(404), and a session of site B on A's paths is refused (:func:`test_no_session_opens_another_sites_paths`).

Besides the status, every answer is searched for what its caller must never see: a
connection password (nobody), a bin's or webhook's signing secret (only who manages it), and
the other tenant's names, ids and e-mail addresses (see ``World.forbidden_strings``).

The server runs on SQLite only: authorization is decided above the store, and one backend
keeps this under a minute.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi.routing import iter_route_contexts
from starlette.routing import Mount

from tabhooks.api.app import create_app
from tabhooks.config import Settings
from tabhooks.store import open_store
from tabhooks.web.templating import STATIC_DIR
from tests.conftest import database_url_for
from tests.support import authz
from tests.support.authz import (
    ADMINS,
    ADMINS_ANY_SITE,
    ALLOW,
    BIN_MANAGERS_ONLY,
    DENIED,
    DISALLOWED,
    FORBIDDEN,
    HIDDEN,
    LOGIN_FAILED,
    MEMBERS,
    MEMBERS_ANY_SITE,
    OWNER_OR_ADMIN,
    PUBLIC,
    PUBLISHERS,
    REFUSED,
    REJECTED,
    SELF,
    SERVER_ONLY,
    SERVER_ONLY_HIDDEN,
    UNAUTH,
    Call,
    Case,
    Outcome,
    call,
    expect,
    form,
    page,
    ui,
    with_,
)
from tests.support.authz_world import NO_CONNECTION, PASSWORD, Actor, World
from tests.support.rest import multipart
from tests.support.server import ADMIN_PASSWORD, ADMIN_USERNAME, ServerProcess
from tests.support.tableau_samples import connection_xml, datasource_xml, package, workbook_xml

API = "/api/{api_version}"
SITE = "/api/{api_version}/sites/{site_id}"
OPS = "/tabhooks/v1/sites/{site_id}"


def xml(body: str) -> str:
    return f"<tsRequest>{body}</tsRequest>"


def _publish_call(kind: str) -> Callable[[World, Actor], Call]:
    """Publish a new ``kind`` into site A's project (for site B's admin: A's project, unseen)."""

    def call(w: World, a: Actor) -> Call:
        name = w.unique(f"pub-{kind}")
        data = {
            "workbook": ("tableau_workbook", f"{name}.twb", workbook_xml(connection_xml("hyper"))),
            "datasource": (
                "tableau_datasource",
                f"{name}.tds",
                datasource_xml(connection_xml("hyper")),
            ),
            "flow": ("tableau_flow", f"{name}.tfl", package("flow", b"{}")),
        }[kind]
        payload = xml(f'<{kind} name="{name}"><project id="{w.a.project}"/></{kind}>')
        body, content_type = multipart(
            [
                ("request_payload", "", "text/xml", payload.encode()),
                (data[0], data[1], "application/octet-stream", data[2]),
            ]
        )
        return Call(
            "POST", f"{a.api}/{kind}s", content=body, headers={"Content-Type": content_type}
        )

    return call


def _content_rows(kind: str) -> dict[tuple[str, str], Case | tuple[Case, ...]]:
    """The eight routes one content kind has (Tableau shapes the three kinds alike)."""
    coll = f"{SITE}/{kind}s"

    def target(w: World) -> str:
        return str(getattr(w.a, kind))

    def connection(w: World) -> str:
        return {
            "workbook": w.a.workbook_connection,
            "datasource": w.a.datasource_connection,
            "flow": NO_CONNECTION,
        }[kind]

    return {
        ("POST", coll): Case(PUBLISHERS, _publish_call(kind)),
        ("GET", coll): Case(MEMBERS_ANY_SITE, lambda w, a: Call("GET", f"{a.api}/{kind}s")),
        ("GET", f"{coll}/{{content_id}}"): Case(
            MEMBERS, lambda w, a: Call("GET", f"{a.api}/{kind}s/{target(w)}")
        ),
        ("PUT", f"{coll}/{{content_id}}"): Case(
            OWNER_OR_ADMIN,
            lambda w, a: Call(
                "PUT",
                f"{a.api}/{kind}s/{target(w)}",
                content=xml(f'<{kind} description="checked"/>'),
            ),
        ),
        ("DELETE", f"{coll}/{{content_id}}"): Case(
            OWNER_OR_ADMIN, lambda w, a: Call("DELETE", f"{a.api}/{kind}s/{w.content(kind)}")
        ),
        # Downloading needs ExportXml, which the Viewer template All Users holds lacks.
        ("GET", f"{coll}/{{content_id}}/content"): Case(
            OWNER_OR_ADMIN, lambda w, a: Call("GET", f"{a.api}/{kind}s/{target(w)}/content")
        ),
        ("GET", f"{coll}/{{content_id}}/connections"): Case(
            MEMBERS, lambda w, a: Call("GET", f"{a.api}/{kind}s/{target(w)}/connections")
        ),
        ("PUT", f"{coll}/{{content_id}}/connections/{{connection_id}}"): Case(
            OWNER_OR_ADMIN,
            lambda w, a: Call(
                "PUT",
                f"{a.api}/{kind}s/{target(w)}/connections/{connection(w)}",
                content=xml('<connection serverAddress="127.0.0.1"/>'),
            ),
            # A flow has no connections: an authorized caller learns that, and only that.
            ok_codes=frozenset({"404020"}) if kind == "flow" else frozenset(),
        ),
    }


def _switch_site(w: World, a: Actor) -> Call:
    # Every role user belongs to site C too; site B's admin tries A, which they are not on.
    target = w.a if a.key == authz.OTHER_SITE_ADMIN else w.c
    return Call(
        "POST",
        "/api/3.28/auth/switchSite",
        content=xml(f'<site contentUrl="{target.content_url}"/>'),
        fresh_login=True,
    )


def _sign_in(w: World, a: Actor) -> Call:
    """Each principal signs in with its own password (anonymous: the bystander's)."""
    name, password, site = _credentials(w, a)
    return Call(
        "POST",
        "/api/3.28/auth/signin",
        content=xml(
            f'<credentials name="{name}" password="{password}"><site contentUrl="{site}"/></credentials>'
        ),
    )


def _credentials(w: World, a: Actor) -> tuple[str, str, str]:
    """The actor's own name, password and site; the anonymous caller uses the bystander's."""
    if a.name:
        return a.name, a.password, a.content_url
    return w.a.bystander_name, PASSWORD, w.a.content_url


def _ui_sign_in(w: World, a: Actor) -> Call:
    name, password, site = _credentials(w, a)
    # The sign-in form's own CSRF is a double-submit cookie: a fresh browser fetches it first.
    client = httpx.Client(base_url=w.server.base_url, follow_redirects=False)
    page = client.get("/ui/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token
    cookie = client.cookies.get("tabhooks_login_csrf", path="/ui/login") or ""
    client.close()
    return Call(
        "POST",
        "/ui/login",
        content=urlencode(
            {"csrf": token.group(1), "name": name, "password": password, "site": site}
        ),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"tabhooks_login_csrf={cookie}",
        },
    )


def _user_update(target: Callable[[World, Actor], str]) -> Callable[[World, Actor], Call]:
    def call(w: World, a: Actor) -> Call:
        return Call(
            "PUT", f"{a.api}/users/{target(w, a)}", content=xml('<user fullName="Checked Name"/>')
        )

    return call


def _adopt_or_add(w: World, a: Actor) -> Call:
    """Site A's admins add a new user; site B's admin adds an existing user of site A only.

    Tableau lets a site administrator add an existing user to their site, but the answer must
    not hand over what the other site knows of them (their e-mail address).
    """
    if a.key == authz.OTHER_SITE_ADMIN:
        _, name = w.user()
        return Call(
            "POST",
            f"{a.api}/users",
            content=xml(f'<user name="{name}" siteRole="Viewer"/>'),
            hidden=(f"{name}@mx.example",),
        )
    return Call(
        "POST",
        f"{a.api}/users",
        content=xml(f'<user name="{w.unique("added")}" siteRole="Viewer"/>'),
    )


def _static_file() -> str:
    return sorted(p.name for p in Path(STATIC_DIR).iterdir() if p.is_file())[0]


# -- groups and permissions (issue 18) -------------------------------------------------------


def _as_server_admin(w: World, method: str, path: str, body: str | None = None) -> httpx.Response:
    """A set-up call on site A by the server administrator (never one of the judged calls)."""
    admin = w.actors[authz.SERVER_ADMIN]
    answer = w.http.request(
        method, f"{admin.api}/{path}", content=body, headers={"X-Tableau-Auth": admin.token}
    )
    assert answer.status_code < 300, (method, path, answer.status_code, answer.text)
    return answer


def _group(w: World, *members: str) -> str:
    """A fresh group of site A (its name private to A), with ``members``."""
    name = w.unique("group")
    created = _as_server_admin(w, "POST", "groups", xml(f'<group name="{name}"/>'))
    group_id = re.search(r'<group id="([^"]+)"', created.text)
    assert group_id
    w.a.private += [name, group_id.group(1)]
    for member in members:
        _as_server_admin(
            w, "POST", f"groups/{group_id.group(1)}/users", xml(f'<user id="{member}"/>')
        )
    return group_id.group(1)


def _grant_xml(grantee: str, grantee_id: str, capability: str, mode: str = "Allow") -> str:
    return xml(
        f'<permissions><granteeCapabilities><{grantee} id="{grantee_id}"/><capabilities>'
        f'<capability name="{capability}" mode="{mode}"/></capabilities></granteeCapabilities>'
        "</permissions>"
    )


#: Per resource: its collection, its id in the world, a capability it takes, who may change it.
_PERMISSION_TARGETS: dict[str, tuple[Callable[[World], str], str, dict[str, Outcome]]] = {
    "projects": (lambda w: w.a.project, "Write", ADMINS),  # the server admin's project
    "workbooks": (lambda w: w.a.workbook, "ShareView", OWNER_OR_ADMIN),
    "datasources": (lambda w: w.a.datasource, "Connect", OWNER_OR_ADMIN),
    "flows": (lambda w: w.a.flow, "Execute", OWNER_OR_ADMIN),
    "views": (lambda w: w.a.view, "ExportData", OWNER_OR_ADMIN),
}


def _permission_rows() -> dict[tuple[str, str], Case | tuple[Case, ...]]:
    """Query (whoever reads it), add and delete (ChangePermissions: owner, leaders, admins)."""
    rows: dict[tuple[str, str], Case | tuple[Case, ...]] = {}
    for collection, (target, capability, changers) in _PERMISSION_TARGETS.items():
        base = f"{SITE}/{collection}/{{resource_id}}/permissions"

        def query(w: World, a: Actor, c: str = collection, t: Any = target) -> Call:
            return Call("GET", f"{a.api}/{c}/{t(w)}/permissions")

        def add(
            w: World, a: Actor, c: str = collection, t: Any = target, cap: str = capability
        ) -> Call:
            return Call(
                "PUT",
                f"{a.api}/{c}/{t(w)}/permissions",
                content=_grant_xml("user", w.a.bystander, cap),
            )

        def delete(
            w: World, a: Actor, c: str = collection, t: Any = target, cap: str = capability
        ) -> Call:
            _as_server_admin(
                w, "PUT", f"{c}/{t(w)}/permissions", _grant_xml("user", w.a.bystander, cap, "Deny")
            )
            return Call(
                "DELETE", f"{a.api}/{c}/{t(w)}/permissions/users/{w.a.bystander}/{cap}/Deny"
            )

        rows[("GET", base)] = Case(MEMBERS, query)
        rows[("PUT", base)] = Case(changers, add)
        rows[("DELETE", f"{base}/{{grantee_type}}/{{grantee_id}}/{{capability}}/{{mode}}")] = Case(
            changers, delete
        )
    defaults = f"{SITE}/projects/{{project_id}}/default-permissions/{{content_type}}"

    def delete_default(w: World, a: Actor) -> Call:
        path = f"projects/{w.a.project}/default-permissions/workbooks"
        _as_server_admin(w, "PUT", path, _grant_xml("user", w.a.bystander, "ExportXml", "Deny"))
        return Call("DELETE", f"{a.api}/{path}/users/{w.a.bystander}/ExportXml/Deny")

    rows[("GET", defaults)] = Case(
        MEMBERS, call("GET", "{a.api}/projects/{w.a.project}/default-permissions/workbooks")
    )
    rows[("PUT", defaults)] = Case(
        ADMINS,
        lambda w, a: Call(
            "PUT",
            f"{a.api}/projects/{w.a.project}/default-permissions/datasources",
            content=_grant_xml("user", w.a.bystander, "SaveAs"),
        ),
    )
    rows[("DELETE", f"{defaults}/{{grantee_type}}/{{grantee_id}}/{{capability}}/{{mode}}")] = Case(
        ADMINS, delete_default
    )
    return rows


def _group_rows() -> dict[tuple[str, str], Case | tuple[Case, ...]]:
    """Groups are read by every member and changed by administrators only."""
    return {
        ("GET", f"{SITE}/groups"): Case(MEMBERS_ANY_SITE, call("GET", "{a.api}/groups")),
        ("POST", f"{SITE}/groups"): Case(
            ADMINS_ANY_SITE,
            lambda w, a: Call(
                "POST", f"{a.api}/groups", content=xml(f'<group name="{w.unique("g")}"/>')
            ),
        ),
        ("PUT", f"{SITE}/groups/{{group_id}}"): Case(
            ADMINS,
            lambda w, a: Call(
                "PUT",
                f"{a.api}/groups/{_group(w)}",
                content=xml(f'<group name="{w.unique("g")}"/>'),
            ),
        ),
        ("DELETE", f"{SITE}/groups/{{group_id}}"): Case(
            ADMINS, lambda w, a: Call("DELETE", f"{a.api}/groups/{_group(w)}")
        ),
        ("GET", f"{SITE}/groups/{{group_id}}/users"): Case(
            MEMBERS, lambda w, a: Call("GET", f"{a.api}/groups/{_group(w, w.a.bystander)}/users")
        ),
        ("POST", f"{SITE}/groups/{{group_id}}/users"): Case(
            ADMINS,
            lambda w, a: Call(
                "POST",
                f"{a.api}/groups/{_group(w)}/users",
                content=xml(f'<user id="{w.a.bystander}"/>'),
            ),
        ),
        ("DELETE", f"{SITE}/groups/{{group_id}}/users/{{user_id}}"): Case(
            ADMINS,
            lambda w, a: Call(
                "DELETE", f"{a.api}/groups/{_group(w, w.a.bystander)}/users/{w.a.bystander}"
            ),
        ),
        ("PUT", f"{SITE}/groups/{{group_id}}/users/remove"): Case(
            ADMINS,
            lambda w, a: Call(
                "PUT",
                f"{a.api}/groups/{_group(w, w.a.bystander)}/users/remove",
                content=xml(f'<users><user id="{w.a.bystander}"/></users>'),
            ),
        ),
        ("GET", f"{SITE}/users/{{user_id}}/groups"): Case(
            MEMBERS, call("GET", "{a.api}/users/{w.a.bystander}/groups")
        ),
    }


_PAYLOAD = {
    "event_type": "DatasourceRefreshFailed",
    "resource": "DATASOURCE",
    "resource_name": "matrix",
    "resource_luid": "00000000-0000-4000-8000-000000000001",
    "created_at": "2026-01-01T00:00:00Z",
}


def _schedule(w: World, kind: str = "Extract") -> str:
    """A fresh server schedule (server administrators create them)."""
    admin = w.actors[authz.SERVER_ADMIN]
    body = {
        "schedule": {
            "name": w.unique("schedule"),
            "type": kind,
            "frequency": "Daily",
            "frequencyDetails": {"start": "03:00:00"},
        }
    }
    return str(w.json_call(admin.token, "POST", "/api/3.28/schedules", body)["schedule"]["id"])


def _task(w: World, kind: str = "datasource") -> str:
    """A fresh task: the owner's fresh content, added by the owner to a fresh schedule."""
    owner = w.actors[authz.OWNER]
    tag = "runFlow" if kind == "flow" else "extractRefresh"
    schedule = _schedule(w, "Flow" if kind == "flow" else "Extract")
    body = {"task": {tag: {kind: {"id": w.content(kind)}}}}
    added = w.json_call(owner.token, "PUT", f"{owner.api}/schedules/{schedule}/{kind}s", body)
    return str(added["task"][tag]["id"])


def _cloud_refresh(datasource: str) -> str:
    return xml(
        f'<extractRefresh type="FullRefresh"><datasource id="{datasource}"/></extractRefresh>'
        '<schedule frequency="Daily"><frequencyDetails start="04:00:00"/></schedule>'
    )


def _cloud_task(w: World) -> str:
    """A fresh Tableau Cloud style task (with its own schedule) on the owner's content."""
    owner = w.actors[authz.OWNER]
    answer = w.http.post(
        f"{owner.api}/tasks/extractRefreshes",
        content=_cloud_refresh(w.content("datasource")),
        headers={"X-Tableau-Auth": owner.token, "Accept": "application/json"},
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["extractRefresh"]["id"])


#: A task's owner and administrators; a publisher who owns none of it finds nothing (404),
#: a role that cannot publish is refused first (403).
TASK_MANAGERS = expect(
    HIDDEN, viewer=FORBIDDEN, read_only=FORBIDDEN, explorer=FORBIDDEN,
    owner=ALLOW, sae=ALLOW, sac=ALLOW, server=ALLOW,
)  # fmt: skip
#: Seeing one task: its owner and administrators; anyone else finds nothing (404).
TASK_READERS = expect(HIDDEN, owner=ALLOW, sae=ALLOW, sac=ALLOW, server=ALLOW)


# -- tags and favorites (issue 18) ------------------------------------------------------------

_TAG_BODY = xml('<tags><tag label="mx-tag"/></tags>')


def _tag_rows() -> dict[tuple[str, str], Case | tuple[Case, ...]]:
    """Add / Delete Tags: the item's owner and administrators (a view's owner is its
    workbook's), as for every other change to content; a missing tag (404008) is authorized."""

    def target(kind: str) -> Callable[[World], str]:
        return lambda w: str(getattr(w.a, kind))

    rows: dict[tuple[str, str], Case | tuple[Case, ...]] = {}
    for kind in ("workbook", "datasource", "flow", "view"):
        coll, item = f"{SITE}/{kind}s", target(kind)

        def add(w: World, a: Actor, kind: str = kind, item: Callable[[World], str] = item) -> Call:
            return Call("PUT", f"{a.api}/{kind}s/{item(w)}/tags", content=_TAG_BODY)

        def remove(
            w: World, a: Actor, kind: str = kind, item: Callable[[World], str] = item
        ) -> Call:
            return Call("DELETE", f"{a.api}/{kind}s/{item(w)}/tags/{w.unique('gone')}")

        rows[("PUT", f"{coll}/{{item_id}}/tags")] = Case(OWNER_OR_ADMIN, add)
        rows[("DELETE", f"{coll}/{{item_id}}/tags/{{tag:path}}")] = Case(
            OWNER_OR_ADMIN, remove, ok_codes=frozenset({"404008"})
        )

    def batch(verb: str, on_session_site: bool) -> Callable[[World, Actor], Call]:
        def call(w: World, a: Actor) -> Call:
            body = xml(
                '<tagBatch><tags><tag label="mx-batch"/></tags><contents>'
                f'<content id="{w.a.workbook}" contentType="Workbook"/>'
                f'<content id="{w.a.view}" contentType="View"/></contents></tagBatch>'
            )
            base = "/api/3.28" if on_session_site else a.api
            return Call("PUT", f"{base}/tags:{verb}", content=body)

        return call

    for verb in ("batchCreate", "batchDelete"):
        rows[("PUT", f"{SITE}/tags:{verb}")] = Case(OWNER_OR_ADMIN, batch(verb, False))
        # TSC 0.42's spelling, without the site: the session's site (site B's admin: B's).
        rows[("PUT", f"{API}/tags:{verb}")] = Case(OWNER_OR_ADMIN, batch(verb, True))
    return rows


def _own_id(w: World, a: Actor) -> str:
    return a.user_id or w.a.bystander


def _favorite_rows() -> dict[tuple[str, str], Case | tuple[Case, ...]]:
    """Favorites are personal: every user manages their own, administrators anyone's on their
    site. Adding what is already a favorite (409000) and deleting what is not (404003) are
    authorized answers."""
    favorites = f"{SITE}/favorites"

    def add(user: Callable[[World, Actor], str]) -> Callable[[World, Actor], Call]:
        def call(w: World, a: Actor) -> Call:
            body = xml(f'<favorite label="mx"><workbook id="{w.a.workbook}"/></favorite>')
            return Call("PUT", f"{a.api}/favorites/{user(w, a)}", content=body)

        return call

    def bystander(w: World, a: Actor) -> str:
        return w.a.bystander

    return {
        ("GET", f"{favorites}/{{user_id}}"): (
            Case(
                SELF,
                lambda w, a: Call("GET", f"{a.api}/favorites/{_own_id(w, a)}"),
                label="own",
            ),
            Case(
                ADMINS,
                lambda w, a: Call("GET", f"{a.api}/favorites/{w.a.bystander}"),
                label="another user's",
            ),
        ),
        ("PUT", f"{favorites}/{{user_id}}"): (
            Case(MEMBERS, add(_own_id), ok_codes=frozenset({"409000"}), label="own"),
            Case(ADMINS, add(bystander), ok_codes=frozenset({"409000"}), label="another user's"),
        ),
        ("DELETE", f"{favorites}/{{user_id}}/{{collection}}/{{item_id}}"): (
            Case(
                MEMBERS,
                lambda w, a: Call(
                    "DELETE", f"{a.api}/favorites/{_own_id(w, a)}/workbooks/{w.a.workbook}"
                ),
                ok_codes=frozenset({"404003"}),
                label="own",
            ),
            Case(
                ADMINS,
                lambda w, a: Call(
                    "DELETE", f"{a.api}/favorites/{w.a.bystander}/workbooks/{w.a.workbook}"
                ),
                ok_codes=frozenset({"404003"}),
                label="another user's",
            ),
        ),
    }


#: Every route of the app, and what each principal may get from it.
MATRIX: dict[tuple[str, str], Case | tuple[Case, ...]] = {
    # -- public --------------------------------------------------------------------------------
    ("GET", "/tabhooks/openapi.json"): Case(PUBLIC, call("GET", "/tabhooks/openapi.json")),
    ("GET", "/tabhooks/docs"): Case(PUBLIC, call("GET", "/tabhooks/docs")),
    ("GET", "/tabhooks/docs/assets"): Case(
        PUBLIC, call("GET", "/tabhooks/docs/assets/swagger-ui.css")
    ),
    ("GET", "/metrics"): Case(PUBLIC, call("GET", "/metrics")),
    ("GET", "/tabhooks/v1/health"): Case(PUBLIC, call("GET", "/tabhooks/v1/health")),
    ("GET", f"{API}/serverinfo"): Case(PUBLIC, call("GET", "/api/3.28/serverinfo")),
    ("GET", f"{API}/serverInfo"): Case(PUBLIC, call("GET", "/api/3.28/serverInfo")),
    # The relay's inbound URL and a bin's capture URL are capabilities: no session needed.
    ("POST", "/relay/{route_id}"): Case(
        PUBLIC, lambda w, a: Call("POST", f"/relay/{w.a.relay}", json=_PAYLOAD)
    ),
    ("*", "/inbox/{bin_id}{rest:path}"): Case(
        PUBLIC, lambda w, a: Call("POST", f"/inbox/{w.a.bin}/matrix", json={"from": a.key})
    ),
    # -- sign-in, sign-out, switch site ------------------------------------------------------------
    ("POST", f"{API}/auth/signin"): Case(with_(PUBLIC, unlicensed=UNAUTH), _sign_in),
    ("POST", f"{API}/auth/signout"): Case(
        MEMBERS_ANY_SITE, call("POST", "/api/3.28/auth/signout", fresh_login=True)
    ),
    ("POST", f"{API}/auth/switchSite"): Case(with_(MEMBERS, other=DENIED), _switch_site),
    # -- sites ---------------------------------------------------------------------------------------
    ("POST", f"{API}/sites"): Case(
        SERVER_ONLY,
        lambda w, a: Call(
            "POST",
            "/api/3.28/sites",
            content=xml(
                f'<site name="{w.unique("new-site")}" contentUrl="{w.unique("new-site")}"/>'
            ),
        ),
    ),
    ("GET", f"{API}/sites"): Case(MEMBERS_ANY_SITE, call("GET", "/api/3.28/sites")),
    ("GET", f"{API}/sites/{{site_key}}"): Case(MEMBERS, call("GET", "/api/3.28/sites/{w.a.id}")),
    ("PUT", f"{API}/sites/{{site_id}}"): (
        Case(
            with_(ADMINS, other=REFUSED),
            lambda w, a: Call(
                "PUT",
                f"/api/3.28/sites/{w.a.id}",
                content=xml('<site adminMode="ContentAndUsers"/>'),
            ),
        ),
        # The Default site's content URL is "" for good: moving it would lock everyone out.
        Case(
            expect(FORBIDDEN, server=DISALLOWED, other=REFUSED),
            lambda w, a: Call(
                "PUT",
                f"/api/3.28/sites/{w.default_site_id}",
                content=xml(f'<site contentUrl="{w.unique("moved")}"/>'),
            ),
            label="the Default site's content URL",
        ),
    ),
    # -- users ---------------------------------------------------------------------------------------
    ("POST", f"{SITE}/users"): Case(ADMINS_ANY_SITE, _adopt_or_add),
    ("GET", f"{SITE}/users"): Case(MEMBERS_ANY_SITE, call("GET", "{a.api}/users")),
    ("GET", f"{SITE}/users/{{user_id}}"): Case(
        MEMBERS, call("GET", "{a.api}/users/{w.a.bystander}")
    ),
    ("PUT", f"{SITE}/users/{{user_id}}"): (
        Case(ADMINS, _user_update(lambda w, a: w.user()[0]), label="user of this site only"),
        Case(
            SELF,
            _user_update(lambda w, a: a.user_id or w.a.bystander),
            label="oneself",
        ),
        Case(
            expect(FORBIDDEN, server=ALLOW),
            _user_update(lambda w, a: w.a.bystander),
            label="user who is also on another site",
        ),
        Case(
            SERVER_ONLY,
            _user_update(lambda w, a: w.server_admin_id),
            label="the server administrator",
        ),
    ),
    ("DELETE", f"{SITE}/users/{{user_id}}"): (
        Case(
            ADMINS,
            lambda w, a: Call("DELETE", f"{a.api}/users/{w.user()[0]}"),
            label="user of this site only",
        ),
        Case(
            expect(FORBIDDEN, other=FORBIDDEN),
            lambda w, a: Call("DELETE", f"{a.api}/users/{w.server_admin_id}"),
            label="the server administrator",
        ),
    ),
    ("POST", "/tabhooks/v1/personal-access-tokens"): (
        Case(
            SELF,
            lambda w, a: Call(
                "POST", "/tabhooks/v1/personal-access-tokens", json={"name": w.unique("pat")}
            ),
            label="own token",
        ),
        Case(
            SERVER_ONLY,
            lambda w, a: Call(
                "POST",
                "/tabhooks/v1/personal-access-tokens",
                json={"name": w.unique("pat"), "user": w.a.bystander_name},
            ),
            label="another user's token",
        ),
        # A missing user answers like an existing one, so names cannot be enumerated.
        Case(
            SERVER_ONLY_HIDDEN,
            lambda w, a: Call(
                "POST",
                "/tabhooks/v1/personal-access-tokens",
                json={"name": w.unique("pat"), "user": w.unique("nobody")},
            ),
            label="no such user",
        ),
    ),
    ("GET", "/tabhooks/v1/personal-access-tokens"): (
        Case(
            SELF,
            lambda w, a: Call("GET", "/tabhooks/v1/personal-access-tokens"),
            label="own tokens",
        ),
        Case(
            SERVER_ONLY,
            lambda w, a: Call(
                "GET", "/tabhooks/v1/personal-access-tokens", params={"user": w.a.bystander_name}
            ),
            label="another user's tokens",
        ),
        Case(
            SERVER_ONLY_HIDDEN,
            lambda w, a: Call(
                "GET", "/tabhooks/v1/personal-access-tokens", params={"user": w.unique("nobody")}
            ),
            label="no such user",
        ),
    ),
    ("DELETE", "/tabhooks/v1/personal-access-tokens/{name}"): (
        Case(
            SELF,
            lambda w, a: Call("DELETE", f"/tabhooks/v1/personal-access-tokens/{w.pat(a)}"),
            label="own token",
        ),
        Case(
            SERVER_ONLY,
            lambda w, a: Call(
                "DELETE",
                f"/tabhooks/v1/personal-access-tokens/"
                f"{w.pat(w.actors[authz.SERVER_ADMIN], w.a.bystander_name)}",
                params={"user": w.a.bystander_name},
            ),
            label="another user's token",
        ),
    ),
    # -- projects and views --------------------------------------------------------------------------
    ("GET", f"{SITE}/projects"): Case(MEMBERS_ANY_SITE, call("GET", "{a.api}/projects")),
    ("POST", f"{SITE}/projects"): Case(
        ADMINS,
        lambda w, a: Call(
            "POST",
            f"{a.api}/projects",
            content=xml(f'<project name="{w.unique("sub")}" parentProjectId="{w.a.project}"/>'),
        ),
    ),
    ("GET", f"{SITE}/projects/{{project_id}}"): Case(
        MEMBERS, call("GET", "{a.api}/projects/{w.a.project}")
    ),
    ("PUT", f"{SITE}/projects/{{project_id}}"): Case(
        ADMINS,
        lambda w, a: Call(
            "PUT",
            f"{a.api}/projects/{w.a.project}",
            content=xml('<project description="checked"/>'),
        ),
    ),
    ("DELETE", f"{SITE}/projects/{{project_id}}"): Case(
        ADMINS, lambda w, a: Call("DELETE", f"{a.api}/projects/{w.project()}")
    ),
    ("GET", f"{SITE}/workbooks/{{workbook_id}}/views"): Case(
        MEMBERS, call("GET", "{a.api}/workbooks/{w.a.workbook}/views")
    ),
    ("GET", f"{SITE}/views"): Case(MEMBERS_ANY_SITE, call("GET", "{a.api}/views")),
    ("GET", f"{SITE}/views/{{view_id}}"): Case(MEMBERS, call("GET", "{a.api}/views/{w.a.view}")),
    # -- content -------------------------------------------------------------------------------------
    **_content_rows("workbook"),
    **_content_rows("datasource"),
    **_content_rows("flow"),
    **_tag_rows(),
    **_favorite_rows(),
    ("POST", f"{SITE}/fileUploads"): Case(
        with_(PUBLISHERS, other=ALLOW), call("POST", "{a.api}/fileUploads")
    ),
    # An upload session is its starter's alone: anyone else finds nothing.
    ("PUT", f"{SITE}/fileUploads/{{upload_id}}"): Case(
        expect(HIDDEN, owner=ALLOW),
        lambda w, a: _append_call(w, a),
    ),
    # -- data quality warnings -------------------------------------------------------------------
    ("POST", f"{SITE}/dataQualityWarnings/{{content_type}}/{{content_id}}"): Case(
        OWNER_OR_ADMIN,
        lambda w, a: Call(
            "POST",
            f"{a.api}/dataQualityWarnings/datasource/{w.a.datasource}",
            content=xml('<dataQualityWarning type="STALE" message="checked"/>'),
        ),
    ),
    ("GET", f"{SITE}/dataQualityWarnings/{{content_type}}/{{content_id}}"): Case(
        MEMBERS, call("GET", "{a.api}/dataQualityWarnings/datasource/{w.a.datasource}")
    ),
    ("PUT", f"{SITE}/dataQualityWarnings/{{content_type}}/{{content_id}}"): Case(
        OWNER_OR_ADMIN,
        lambda w, a: Call(
            "PUT",
            f"{a.api}/dataQualityWarnings/datasource/{w.a.datasource}",
            content=xml('<dataQualityWarning isActive="true"/>'),
        ),
    ),
    ("DELETE", f"{SITE}/dataQualityWarnings/{{content_type}}/{{content_id}}"): Case(
        OWNER_OR_ADMIN, call("DELETE", "{a.api}/dataQualityWarnings/datasource/{w.a.labelled}")
    ),
    ("GET", f"{SITE}/dataQualityWarnings/{{warning_id}}"): Case(
        MEMBERS, call("GET", "{a.api}/dataQualityWarnings/{w.a.warning}")
    ),
    ("PUT", f"{SITE}/dataQualityWarnings/{{warning_id}}"): Case(
        OWNER_OR_ADMIN,
        lambda w, a: Call(
            "PUT",
            f"{a.api}/dataQualityWarnings/{w.a.warning}",
            content=xml('<dataQualityWarning isSevere="false"/>'),
        ),
    ),
    ("DELETE", f"{SITE}/dataQualityWarnings/{{warning_id}}"): Case(
        OWNER_OR_ADMIN,
        lambda w, a: Call("DELETE", f"{a.api}/dataQualityWarnings/{w.warning(w.a.datasource)}"),
    ),
    # -- groups and permissions ----------------------------------------------------------------
    **_group_rows(),
    **_permission_rows(),
    # -- jobs ----------------------------------------------------------------------------------------
    ("POST", f"{SITE}/workbooks/{{workbook_id}}/refresh"): Case(
        OWNER_OR_ADMIN,  # ExtractRefresh or Write (flows: Execute or Write)
        lambda w, a: Call(
            "POST", f"{a.api}/workbooks/{w.content('workbook')}/refresh", content=xml("")
        ),
    ),
    ("POST", f"{SITE}/datasources/{{datasource_id}}/refresh"): Case(
        OWNER_OR_ADMIN,  # ExtractRefresh or Write (flows: Execute or Write)
        lambda w, a: Call(
            "POST", f"{a.api}/datasources/{w.content('datasource')}/refresh", content=xml("")
        ),
    ),
    ("POST", f"{SITE}/flows/{{flow_id}}/run"): Case(
        OWNER_OR_ADMIN,  # ExtractRefresh or Write (flows: Execute or Write)
        lambda w, a: Call("POST", f"{a.api}/flows/{w.content('flow')}/run", content=xml("")),
    ),
    ("GET", f"{SITE}/jobs/{{job_id}}"): Case(MEMBERS, call("GET", "{a.api}/jobs/{w.a.job}")),
    ("GET", f"{SITE}/jobs"): Case(ADMINS_ANY_SITE, call("GET", "{a.api}/jobs")),
    # Cancelling is for whoever queued the job (the owner here) and administrators.
    ("PUT", f"{SITE}/jobs/{{job_id}}"): Case(
        OWNER_OR_ADMIN, lambda w, a: Call("PUT", f"{a.api}/jobs/{w.job()}", content=xml(""))
    ),
    # -- schedules and tasks (issue 17) ------------------------------------------------------------
    ("POST", f"{API}/schedules"): Case(
        SERVER_ONLY,
        lambda w, a: Call(
            "POST",
            "/api/3.28/schedules",
            content=xml(
                f'<schedule name="{w.unique("sched")}" type="Extract" frequency="Weekly">'
                '<frequencyDetails start="05:00:00"><intervals><interval weekDay="Monday"/>'
                "</intervals></frequencyDetails></schedule>"
            ),
        ),
    ),
    ("GET", f"{API}/schedules"): Case(SERVER_ONLY, call("GET", "/api/3.28/schedules")),
    ("GET", f"{API}/schedules/{{schedule_id}}"): Case(
        SERVER_ONLY, lambda w, a: Call("GET", f"/api/3.28/schedules/{_schedule(w)}")
    ),
    ("PUT", f"{API}/schedules/{{schedule_id}}"): Case(
        SERVER_ONLY,
        lambda w, a: Call(
            "PUT",
            f"/api/3.28/schedules/{_schedule(w)}",
            content=xml('<schedule priority="20" state="Suspended"/>'),
        ),
    ),
    ("DELETE", f"{API}/schedules/{{schedule_id}}"): Case(
        SERVER_ONLY, lambda w, a: Call("DELETE", f"/api/3.28/schedules/{_schedule(w)}")
    ),
    ("PUT", f"{SITE}/schedules/{{schedule_id}}/datasources"): Case(
        OWNER_OR_ADMIN,
        lambda w, a: Call(
            "PUT",
            f"{a.api}/schedules/{_schedule(w)}/datasources",
            content=xml(
                f'<task><extractRefresh><datasource id="{w.content("datasource")}"/>'
                "</extractRefresh></task>"
            ),
        ),
    ),
    ("PUT", f"{SITE}/schedules/{{schedule_id}}/workbooks"): Case(
        OWNER_OR_ADMIN,
        lambda w, a: Call(
            "PUT",
            f"{a.api}/schedules/{_schedule(w)}/workbooks",
            content=xml(
                f'<task><extractRefresh><workbook id="{w.content("workbook")}"/>'
                "</extractRefresh></task>"
            ),
        ),
    ),
    ("PUT", f"{SITE}/schedules/{{schedule_id}}/flows"): Case(
        OWNER_OR_ADMIN,
        lambda w, a: Call(
            "PUT",
            f"{a.api}/schedules/{_schedule(w, 'Flow')}/flows",
            content=xml(f'<task><runFlow><flow id="{w.content("flow")}"/></runFlow></task>'),
        ),
    ),
    # Everyone lists (their own site's tasks: all for administrators, their content's for others).
    ("GET", f"{SITE}/schedules/{{schedule_id}}/extracts"): Case(
        MEMBERS_ANY_SITE,
        lambda w, a: Call("GET", f"{a.api}/schedules/{_schedule(w)}/extracts"),
    ),
    ("GET", f"{SITE}/tasks/extractRefreshes"): Case(
        MEMBERS_ANY_SITE, call("GET", "{a.api}/tasks/extractRefreshes")
    ),
    ("GET", f"{SITE}/tasks/extractRefreshes/{{task_id}}"): Case(
        TASK_READERS, lambda w, a: Call("GET", f"{a.api}/tasks/extractRefreshes/{_task(w)}")
    ),
    ("POST", f"{SITE}/tasks/extractRefreshes/{{task_id}}/runNow"): Case(
        TASK_MANAGERS,
        lambda w, a: Call(
            "POST", f"{a.api}/tasks/extractRefreshes/{_task(w)}/runNow", content=xml("")
        ),
    ),
    ("DELETE", f"{SITE}/tasks/extractRefreshes/{{task_id}}"): Case(
        TASK_MANAGERS,
        lambda w, a: Call("DELETE", f"{a.api}/tasks/extractRefreshes/{_task(w)}"),
    ),
    ("POST", f"{SITE}/tasks/extractRefreshes"): Case(
        OWNER_OR_ADMIN,
        lambda w, a: Call(
            "POST",
            f"{a.api}/tasks/extractRefreshes",
            content=_cloud_refresh(w.content("datasource")),
        ),
    ),
    ("POST", f"{SITE}/tasks/extractRefreshes/{{task_id}}"): Case(
        TASK_MANAGERS,
        lambda w, a: Call(
            "POST",
            f"{a.api}/tasks/extractRefreshes/{_cloud_task(w)}",
            content=xml(
                '<extractRefresh type="IncrementalRefresh"/><schedule frequency="Daily">'
                '<frequencyDetails start="06:00:00"/></schedule>'
            ),
        ),
    ),
    ("GET", f"{SITE}/tasks/runFlow"): Case(MEMBERS_ANY_SITE, call("GET", "{a.api}/tasks/runFlow")),
    ("GET", f"{SITE}/tasks/runFlow/{{task_id}}"): Case(
        TASK_READERS, lambda w, a: Call("GET", f"{a.api}/tasks/runFlow/{_task(w, 'flow')}")
    ),
    ("POST", f"{SITE}/tasks/runFlow/{{task_id}}/runNow"): Case(
        TASK_MANAGERS,
        lambda w, a: Call(
            "POST", f"{a.api}/tasks/runFlow/{_task(w, 'flow')}/runNow", content=xml("")
        ),
    ),
    # -- webhooks (Tableau) --------------------------------------------------------------------------
    ("POST", f"{SITE}/webhooks"): Case(
        ADMINS_ANY_SITE,
        lambda w, a: Call(
            "POST",
            f"{a.api}/webhooks",
            content=xml(
                f'<webhook name="{w.unique("hook")}" event="DatasourceRefreshFailed"><webhook-destination>'
                f'<webhook-destination-http method="POST" url="{w.receiver.url}"/></webhook-destination></webhook>'
            ),
        ),
    ),
    ("GET", f"{SITE}/webhooks"): Case(ADMINS_ANY_SITE, call("GET", "{a.api}/webhooks")),
    ("GET", f"{SITE}/webhooks/{{webhook_id}}"): Case(
        ADMINS, call("GET", "{a.api}/webhooks/{w.a.webhook}")
    ),
    ("PUT", f"{SITE}/webhooks/{{webhook_id}}"): Case(
        ADMINS,
        lambda w, a: Call(
            "PUT", f"{a.api}/webhooks/{w.a.webhook}", content=xml('<webhook isEnabled="true"/>')
        ),
    ),
    ("DELETE", f"{SITE}/webhooks/{{webhook_id}}"): Case(
        ADMINS, lambda w, a: Call("DELETE", f"{a.api}/webhooks/{w.webhook()}")
    ),
    # Tableau answers 400113 for a webhook Test Webhook cannot find (ours or another site's).
    ("GET", f"{SITE}/webhooks/{{webhook_id}}/test"): Case(
        with_(ADMINS, other=REJECTED), call("GET", "{a.api}/webhooks/{w.a.webhook}/test")
    ),
    # -- operations API --------------------------------------------------------------------------
    ("GET", f"{OPS}/deliveries"): Case(ADMINS_ANY_SITE, call("GET", "{a.ops}/deliveries")),
    ("GET", f"{OPS}/deliveries/{{delivery_id}}"): Case(
        ADMINS, call("GET", "{a.ops}/deliveries/{w.a.delivery}")
    ),
    # The delivery is still pending (no dispatcher): 409000 comes after the role check.
    ("POST", f"{OPS}/deliveries/{{delivery_id}}/redeliver"): Case(
        ADMINS,
        lambda w, a: Call("POST", f"{a.ops}/deliveries/{w.a.delivery}/redeliver"),
        ok_codes=frozenset({"409000"}),
    ),
    ("POST", f"{OPS}/deliveries/recover"): Case(
        ADMINS_ANY_SITE,
        lambda w, a: Call(
            "POST", f"{a.ops}/deliveries/recover", json={"since": "2026-01-01T00:00:00Z"}
        ),
    ),
    ("GET", f"{OPS}/webhooks/{{webhook_id}}/secret"): Case(
        ADMINS, call("GET", "{a.ops}/webhooks/{w.a.webhook}/secret")
    ),
    ("POST", f"{OPS}/webhooks/{{webhook_id}}/secret"): Case(
        ADMINS, lambda w, a: Call("POST", f"{a.ops}/webhooks/{w.webhook()}/secret")
    ),
    ("DELETE", f"{OPS}/webhooks/{{webhook_id}}/secret"): Case(
        ADMINS, lambda w, a: Call("DELETE", f"{a.ops}/webhooks/{w.webhook()}/secret")
    ),
    # Names are looked up on the caller's site only: B's admin learns nothing of site A.
    ("POST", f"{OPS}/events"): Case(
        with_(ADMINS, other=REJECTED),
        lambda w, a: Call(
            "POST", f"{a.ops}/events", json={"event": "SiteUpdated", "resource_luid": w.a.id}
        ),
    ),
    # -- inbox (JSON) --------------------------------------------------------------------------------
    ("POST", "/tabhooks/v1/inbox/bins"): Case(
        MEMBERS_ANY_SITE,
        lambda w, a: Call("POST", "/tabhooks/v1/inbox/bins", json={"name": w.unique("own-bin")}),
    ),
    ("GET", "/tabhooks/v1/inbox/bins"): Case(
        MEMBERS_ANY_SITE, call("GET", "/tabhooks/v1/inbox/bins")
    ),
    ("GET", "/tabhooks/v1/inbox/bins/{bin_id}"): Case(
        MEMBERS, call("GET", "/tabhooks/v1/inbox/bins/{w.a.bin}")
    ),
    ("PATCH", "/tabhooks/v1/inbox/bins/{bin_id}"): Case(
        with_(BIN_MANAGERS_ONLY, other=HIDDEN),
        lambda w, a: Call(
            "PATCH", f"/tabhooks/v1/inbox/bins/{w.a.bin}", json={"response_status": 200}
        ),
    ),
    ("DELETE", "/tabhooks/v1/inbox/bins/{bin_id}"): Case(
        with_(BIN_MANAGERS_ONLY, other=HIDDEN),
        lambda w, a: Call("DELETE", f"/tabhooks/v1/inbox/bins/{w.bin()}"),
    ),
    ("GET", "/tabhooks/v1/inbox/bins/{bin_id}/requests"): Case(
        MEMBERS, call("GET", "/tabhooks/v1/inbox/bins/{w.a.bin}/requests")
    ),
    ("DELETE", "/tabhooks/v1/inbox/bins/{bin_id}/requests"): Case(
        with_(BIN_MANAGERS_ONLY, other=HIDDEN),
        lambda w, a: Call("DELETE", f"/tabhooks/v1/inbox/bins/{w.bin()}/requests"),
    ),
    ("GET", "/tabhooks/v1/inbox/bins/{bin_id}/requests/{request_id}"): Case(
        MEMBERS, call("GET", "/tabhooks/v1/inbox/bins/{w.a.bin}/requests/{w.a.bin_request}")
    ),
    ("POST", "/tabhooks/v1/inbox/bins/{bin_id}/requests/{request_id}/replay"): Case(
        with_(BIN_MANAGERS_ONLY, other=HIDDEN),
        lambda w, a: Call(
            "POST",
            f"/tabhooks/v1/inbox/bins/{w.a.bin}/requests/{w.a.bin_request}/replay",
            json={"url": w.receiver.url},
        ),
    ),
    # -- relays --------------------------------------------------------------------------------------
    ("POST", "/tabhooks/v1/relays"): (
        Case(
            ADMINS_ANY_SITE,
            lambda w, a: Call(
                "POST",
                "/tabhooks/v1/relays",
                json={
                    "name": w.unique("relay"),
                    "targets": [{"type": "http", "url": w.receiver.url}],
                },
            ),
        ),
        # The operator's saved CLI logins are theirs: a tenant's admin may not borrow one,
        # and no answer names a path on the server.
        Case(
            expect(FORBIDDEN, sae=DISALLOWED, sac=DISALLOWED, server=ALLOW, other=DISALLOWED),
            lambda w, a: Call(
                "POST",
                "/tabhooks/v1/relays",
                json={
                    "name": w.unique("relay"),
                    "targets": [{"type": "http", "url": w.receiver.url}],
                    "enrich_with": {"profile": "default"},
                },
                hidden=(str(w.server.workdir),),  # the config folder is in it
            ),
            ok_codes=frozenset({"400000"}),
            label="enrich with the operator's profile",
        ),
        Case(
            expect(FORBIDDEN, sae=DISALLOWED, sac=DISALLOWED, server=REJECTED, other=DISALLOWED),
            lambda w, a: Call(
                "POST",
                "/tabhooks/v1/relays",
                json={
                    "name": w.unique("relay"),
                    "targets": [{"type": "http", "url": w.receiver.url}],
                    "enrich_with": {"profile": "no-such-profile"},
                },
                hidden=(str(w.server.workdir),),
            ),
            label="enrich with a profile that is not saved",
        ),
    ),
    ("GET", "/tabhooks/v1/relays"): Case(ADMINS_ANY_SITE, call("GET", "/tabhooks/v1/relays")),
    ("GET", "/tabhooks/v1/relays/{route_id}"): Case(
        ADMINS, call("GET", "/tabhooks/v1/relays/{w.a.relay}")
    ),
    ("PUT", "/tabhooks/v1/relays/{route_id}"): Case(
        ADMINS,
        lambda w, a: Call("PUT", f"/tabhooks/v1/relays/{w.a.relay}", json={"resource_glob": ""}),
    ),
    ("DELETE", "/tabhooks/v1/relays/{route_id}"): Case(
        ADMINS, lambda w, a: Call("DELETE", f"/tabhooks/v1/relays/{w.relay()}")
    ),
    ("POST", "/tabhooks/v1/relays/{route_id}/test"): Case(
        ADMINS, lambda w, a: Call("POST", f"/tabhooks/v1/relays/{w.a.relay}/test", json={})
    ),
    # -- dashboard -----------------------------------------------------------------------------------
    ("GET", "/ui"): page(PUBLIC, "/ui"),
    ("GET", "/ui/"): page(PUBLIC, "/ui/"),
    ("GET", "/ui/login"): page(PUBLIC, "/ui/login"),
    ("POST", "/ui/login"): Case(with_(PUBLIC, unlicensed=LOGIN_FAILED), _ui_sign_in),
    ("POST", "/ui/logout"): Case(
        ui(MEMBERS_ANY_SITE), call("POST", "/ui/logout", form={}, ui=True, fresh_login=True)
    ),
    ("GET", "/ui/webhooks"): page(ADMINS_ANY_SITE, "/ui/webhooks"),
    ("GET", "/ui/webhooks/{webhook_id}"): page(ADMINS, "/ui/webhooks/{w.a.webhook}"),
    ("GET", "/ui/webhooks/{webhook_id}/deliveries"): page(
        ADMINS, "/ui/webhooks/{w.a.webhook}/deliveries"
    ),
    ("POST", "/ui/webhooks/{webhook_id}/enable"): form(ADMINS, "/ui/webhooks/{w.a.webhook}/enable"),
    ("POST", "/ui/webhooks/{webhook_id}/disable"): Case(
        ui(ADMINS),
        lambda w, a: Call(
            "POST", f"/ui/webhooks/{w.webhook()}/disable", form={"reason": "matrix"}, ui=True
        ),
    ),
    ("POST", "/ui/webhooks/{webhook_id}/test"): form(
        with_(ADMINS, other=REJECTED), "/ui/webhooks/{w.a.webhook}/test"
    ),
    ("POST", "/ui/deliveries/{delivery_id}/redeliver"): form(
        ADMINS, "/ui/deliveries/{w.a.delivery}/redeliver"
    ),
    ("GET", "/ui/deliveries"): page(ADMINS_ANY_SITE, "/ui/deliveries"),
    ("GET", "/ui/deliveries/{delivery_id}"): page(ADMINS, "/ui/deliveries/{w.a.delivery}"),
    ("GET", "/ui/deliveries/{delivery_id}/attempts"): page(
        ADMINS, "/ui/deliveries/{w.a.delivery}/attempts"
    ),
    # The first page and the project docs are for anyone (clients never call them).
    ("GET", "/"): Case(PUBLIC, call("GET", "/")),
    ("GET", "/ui/docs"): page(PUBLIC, "/ui/docs"),
    ("GET", "/ui/docs/"): page(PUBLIC, "/ui/docs/"),
    ("GET", "/ui/docs/{name}"): page(PUBLIC, "/ui/docs/relay.md"),
    ("GET", "/ui/docs/screenshots/{name}"): page(PUBLIC, "/ui/docs/screenshots/inbox.png"),
    # Managing webhooks from the dashboard: the REST API's rule (site and server admins).
    ("GET", "/ui/webhooks/new"): page(ADMINS_ANY_SITE, "/ui/webhooks/new"),
    ("POST", "/ui/webhooks"): Case(
        ui(ADMINS_ANY_SITE),
        lambda w, a: Call(
            "POST",
            "/ui/webhooks",
            form={
                "name": w.unique("ui-webhook"),
                "event": "WorkbookCreated",
                "url": w.receiver.url,
                "enabled": "on",
            },
            ui=True,
        ),
    ),
    ("GET", "/ui/webhooks/{webhook_id}/edit"): page(ADMINS, "/ui/webhooks/{w.a.webhook}/edit"),
    ("POST", "/ui/webhooks/{webhook_id}/edit"): Case(
        ui(ADMINS),
        lambda w, a: Call(
            "POST",
            f"/ui/webhooks/{w.webhook()}/edit",
            form={
                "name": w.unique("ui-edited"),
                "event": "DatasourceRefreshFailed",
                "url": w.receiver.url,
                "enabled": "on",
            },
            ui=True,
        ),
    ),
    ("POST", "/ui/webhooks/{webhook_id}/delete"): Case(
        ui(ADMINS),
        lambda w, a: Call("POST", f"/ui/webhooks/{w.webhook()}/delete", form={}, ui=True),
    ),
    ("POST", "/ui/webhooks/{webhook_id}/secret"): Case(
        ui(ADMINS),
        lambda w, a: Call("POST", f"/ui/webhooks/{w.webhook()}/secret", form={}, ui=True),
    ),
    ("POST", "/ui/webhooks/{webhook_id}/fire"): Case(
        ui(ADMINS),
        lambda w, a: Call(
            "POST", f"/ui/webhooks/{w.a.webhook}/fire", form={"resource_name": "mx"}, ui=True
        ),
    ),
    # Relay routes from the dashboard: as /tabhooks/v1/relays (site and server admins).
    ("GET", "/ui/relays"): page(ADMINS_ANY_SITE, "/ui/relays"),
    ("GET", "/ui/relays/new"): page(ADMINS_ANY_SITE, "/ui/relays/new"),
    ("POST", "/ui/relays"): Case(
        ui(ADMINS_ANY_SITE),
        lambda w, a: Call(
            "POST",
            "/ui/relays",
            form={
                "name": w.unique("ui-relay"),
                "t0.type": "http",
                "t0.method": "POST",
                "t0.url": w.receiver.url,
                "action": "save",
            },
            ui=True,
        ),
    ),
    ("GET", "/ui/relays/{route_id}"): page(ADMINS, "/ui/relays/{w.a.relay}"),
    ("GET", "/ui/relays/{route_id}/edit"): page(ADMINS, "/ui/relays/{w.a.relay}/edit"),
    ("POST", "/ui/relays/{route_id}/edit"): Case(
        ui(ADMINS),
        lambda w, a: Call(
            "POST",
            f"/ui/relays/{w.relay()}/edit",
            form={
                "name": w.unique("ui-relay-edited"),
                "t0.type": "http",
                "t0.method": "POST",
                "t0.url": w.receiver.url,
                "action": "save",
            },
            ui=True,
        ),
    ),
    ("POST", "/ui/relays/{route_id}/delete"): Case(
        ui(ADMINS), lambda w, a: Call("POST", f"/ui/relays/{w.relay()}/delete", form={}, ui=True)
    ),
    # Content pages: every member reads content (jobs and events only shown to admins).
    # What runs next: the viewer's tasks (all of the site's for administrators), and the
    # server schedules for server administrators.
    ("GET", "/ui/schedules"): page(MEMBERS_ANY_SITE, "/ui/schedules"),
    ("GET", "/ui/schedules/"): page(MEMBERS_ANY_SITE, "/ui/schedules/"),
    ("GET", "/ui/content"): page(MEMBERS_ANY_SITE, "/ui/content"),
    ("GET", "/ui/content/"): page(MEMBERS_ANY_SITE, "/ui/content/"),
    ("GET", "/ui/content/views/{view_id}"): page(MEMBERS, "/ui/content/views/{w.a.view}"),
    ("GET", "/ui/content/{section}/{content_id}"): (
        Case(
            ui(MEMBERS),
            lambda w, a: Call("GET", f"/ui/content/workbooks/{w.a.workbook}", ui=True),
            label="workbook",
        ),
        Case(
            ui(MEMBERS),
            lambda w, a: Call("GET", f"/ui/content/datasources/{w.a.datasource}", ui=True),
            label="data source",
        ),
        Case(
            ui(MEMBERS),
            lambda w, a: Call("GET", f"/ui/content/flows/{w.a.flow}", ui=True),
            label="flow",
        ),
    ),
    ("GET", "/ui/bins"): Case(
        ui(with_(MEMBERS, other=ALLOW)), lambda w, a: Call("GET", "/ui/bins", ui=True)
    ),
    ("POST", "/ui/bins"): Case(
        ui(with_(MEMBERS, other=ALLOW)),
        lambda w, a: Call("POST", "/ui/bins", form={"name": w.unique("ui-bin")}, ui=True),
    ),
    # A bin's page and live stream are open to whoever holds its URL (TABHOOKS_INBOX_PUBLIC_VIEW),
    # but show its settings and secret only to who manages it.
    ("GET", "/ui/bins/{bin_id}"): Case(
        PUBLIC, lambda w, a: Call("GET", f"/ui/bins/{w.a.bin}", ui=True, capability=True)
    ),
    ("GET", "/ui/bins/{bin_id}/stream"): Case(
        PUBLIC, lambda w, a: Call("GET", f"/ui/bins/{w.a.bin}/stream", ui=True, stream=True)
    ),
    # The bin page's detail pane (fetched on selecting a request): seen as the page is.
    ("GET", "/ui/bins/{bin_id}/requests/{request_id}/pane"): Case(
        PUBLIC,
        lambda w, a: Call(
            "GET", f"/ui/bins/{w.a.bin}/requests/{w.a.bin_request}/pane", ui=True, capability=True
        ),
    ),
    ("POST", "/ui/bins/{bin_id}/settings"): Case(
        ui(with_(BIN_MANAGERS_ONLY, other=HIDDEN)),
        lambda w, a: Call(
            "POST", f"/ui/bins/{w.a.bin}/settings", form={"response_status": "200"}, ui=True
        ),
    ),
    ("POST", "/ui/bins/{bin_id}/clear"): Case(
        ui(with_(BIN_MANAGERS_ONLY, other=HIDDEN)),
        lambda w, a: Call("POST", f"/ui/bins/{w.bin()}/clear", form={}, ui=True),
    ),
    ("POST", "/ui/bins/{bin_id}/delete"): Case(
        ui(with_(BIN_MANAGERS_ONLY, other=HIDDEN)),
        lambda w, a: Call("POST", f"/ui/bins/{w.bin()}/delete", form={}, ui=True),
    ),
    ("POST", "/ui/bins/{bin_id}/requests/{request_id}/replay"): Case(
        ui(with_(BIN_MANAGERS_ONLY, other=HIDDEN)),
        lambda w, a: Call(
            "POST",
            f"/ui/bins/{w.a.bin}/requests/{w.a.bin_request}/replay",
            form={"url": w.receiver.url},
            ui=True,
        ),
    ),
    ("GET", "/ui/static"): Case(
        PUBLIC, lambda w, a: Call("GET", f"/ui/static/{_static_file()}", ui=True)
    ),
    # -- last, as it is the one that could take site A with it -------------------------------------
    ("DELETE", f"{API}/sites/{{site_id}}"): Case(
        with_(SERVER_ONLY, other=REFUSED),
        lambda w, a: Call(
            "DELETE", f"/api/3.28/sites/{w.site() if a.key == authz.SERVER_ADMIN else w.a.id}"
        ),
    ),
}


def _append_call(w: World, a: Actor) -> Call:
    body, content_type = multipart(
        [("tableau_file", "chunk", "application/octet-stream", b"x" * 16)]
    )
    return Call(
        "PUT",
        f"{a.api}/fileUploads/{w.a.upload}",
        content=body,
        headers={"Content-Type": content_type},
    )


def _cases_of(key: tuple[str, str]) -> tuple[Case, ...]:
    value = MATRIX[key]
    return value if isinstance(value, tuple) else (value,)


def cases() -> Iterator[tuple[tuple[str, str], Case]]:
    for key in MATRIX:
        for case in _cases_of(key):
            yield key, case


def _case_id(key: tuple[str, str], case: Case) -> str:
    return f"{key[0]} {key[1]}" + (f" [{case.label}]" if case.label else "")


ALL_CASES = list(cases())


# -- the route table -------------------------------------------------------------------------


def route_table(tmp_path: Path, roles: str = "all") -> set[tuple[str, str]]:
    """Every (method, path template) the app answers; ``*`` for a route taking any method."""
    url = f"sqlite:///{tmp_path / 'routes.db'}"
    app = create_app(Settings(database_url=url, roles=roles), open_store(url))
    found: set[tuple[str, str]] = set()
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        path = context.path
        assert isinstance(path, str), route
        if isinstance(route, Mount):
            found.add(("GET", path))
            continue
        methods = set(context.methods or ()) - {"HEAD"} or {"HEAD"}
        if not context.methods:
            methods = {"*"}
        found |= {(method, path) for method in methods}
    return found


def test_every_route_has_a_row(tmp_path: Path) -> None:
    """A new route without a row (or a row for a route that is gone) fails here."""
    routes = route_table(tmp_path)
    rows = set(MATRIX)
    missing, gone = sorted(routes - rows), sorted(rows - routes)
    assert not missing, f"routes without a row in MATRIX: {missing}"
    assert not gone, f"rows in MATRIX for routes the app does not have: {gone}"


def test_the_relay_role_serves_only_public_routes(tmp_path: Path) -> None:
    """``tabhooks relay serve`` (often exposed to the internet for Tableau Cloud) answers only
    routes every row of which says anyone may call."""
    served = route_table(tmp_path, roles="relay")
    assert ("POST", "/relay/{route_id}") in served
    for key in served:
        assert key in MATRIX, f"{key} has no row"
        for case in _cases_of(key):
            assert case.expect[authz.ANON] is ALLOW, f"{key} is not public, yet the relay serves it"


def test_every_row_names_every_principal() -> None:
    for key, case in ALL_CASES:
        assert set(case.expect) == set(authz.PRINCIPALS), _case_id(key, case)


# -- the matrix against a real server -------------------------------------------------------


@pytest.fixture(scope="module")
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """One server (SQLite, no dispatcher) with two tenants and an actor per principal."""
    workdir = tmp_path_factory.mktemp("matrix")
    config_dir = workdir / "config"
    running = ServerProcess(
        database_url_for("sqlite", request, workdir),
        workdir,
        extra_env={"TABHOOKS_CONFIG_DIR": str(config_dir)},
        args=("--dev", "--no-dispatcher"),
    ).start()
    _save_operator_login(running, config_dir)
    built = World(running)
    try:
        yield built.build()
    finally:
        built.close()
        running.stop()


def _save_operator_login(server: ServerProcess, config_dir: Path) -> None:
    """The operator's ``tabhooks login`` profile ``default``, in the server's config folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TABHOOKS_")}
    env.update(TABHOOKS_CONFIG_DIR=str(config_dir), MX_OPERATOR_PASSWORD=ADMIN_PASSWORD)
    subprocess.run(
        [sys.executable, "-m", "tabhooks", "login", "--server", server.base_url,
         "--username", ADMIN_USERNAME, "--password-env", "MX_OPERATOR_PASSWORD",
         "--profile", "default"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip


def _judge(world: World, key: tuple[str, str], case: Case) -> list[str]:
    """Every principal's answer that breaks the row, as one readable line each."""
    problems: list[str] = []
    for principal in authz.PRINCIPALS:
        actor = world.actors[principal]
        outcome = case.expect[principal]
        call = case.call(world, actor)
        response = world.send(actor, call)
        status = response.status_code
        if status >= 500:
            problems.append(f"{principal}: {status} (server error)")
            continue
        if not outcome.matches(response, case.ok_codes):
            code = authz.error_code(response)
            where = response.headers.get("location", "")
            detail = f" code {code}" if code else (f" -> {where}" if where else "")
            problems.append(f"{principal}: expected {outcome.name}, got {status}{detail}")
            continue
        if not call.stream:
            said = call.text()
            leaked = [
                s
                for s in (*world.forbidden_strings(actor, call.capability), *call.hidden)
                if s and s not in said and s in response.text
            ]
            if leaked:
                problems.append(f"{principal}: answered {status}, but the answer shows {leaked}")
    return problems


@pytest.mark.parametrize(("key", "case"), ALL_CASES, ids=[_case_id(k, c) for k, c in ALL_CASES])
def test_matrix(world: World, key: tuple[str, str], case: Case) -> None:
    problems = _judge(world, key, case)
    assert not problems, f"{_case_id(key, case)}:\n  " + "\n  ".join(problems)


SITE_SCOPED = [(k, c) for k, c in ALL_CASES if k[1].startswith((f"{SITE}/", f"{OPS}/"))]


@pytest.mark.parametrize(("key", "case"), SITE_SCOPED, ids=[_case_id(k, c) for k, c in SITE_SCOPED])
def test_no_session_opens_another_sites_paths(
    world: World, key: tuple[str, str], case: Case
) -> None:
    """Site B's administrator on site A's own paths (A's id in the path, B's session): 403."""
    other = world.actors[authz.OTHER_SITE_ADMIN]
    on_a = Actor(
        other.key, other.name, other.password, other.content_url, world.a.id, other.user_id,
        other.token, other.csrf, other.ui,
    )  # fmt: skip
    response = world.send(on_a, case.call(world, on_a))
    assert response.status_code in (403, 404), (response.status_code, response.text[:300])
