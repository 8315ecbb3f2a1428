"""Two tenants on one real server, a user of every role, and something of everything to call.

Site A holds the targets: a webhook with a known signing secret and a delivery, a project,
a workbook, a data source (with an embedded connection password) and a flow owned by a
Creator (the "owner"), a data quality warning, a queued job and an upload session of that
owner, a bin of that owner with a signing secret and a captured request, and a relay route.
Site B has its own site administrator and a few things of its own; site C exists so that
switching site has somewhere to go. Everything is made through the REST API, as a client
would.

The server runs without the dispatcher (``--no-dispatcher``), so jobs stay queued and can be
cancelled whenever the matrix gets to them, and nothing is delivered behind its back.
"""

from __future__ import annotations

import base64
import itertools
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from tabhooks.web.session import SESSION_COOKIE, csrf_for
from tests.support import authz
from tests.support.receiver import Receiver
from tests.support.rest import API_VERSION, Rest
from tests.support.server import ADMIN_PASSWORD, ADMIN_USERNAME, ServerProcess
from tests.support.tableau_samples import connection_xml, datasource_xml, package, workbook_xml

_CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')
PASSWORD = "mx-password-0123456789"
#: Embedded in every published connection: no answer to anyone may ever contain it.
CONNECTION_PASSWORD = "mx-connection-password-" + secrets.token_hex(8)
#: A connection id no content has (flows have no connections).
NO_CONNECTION = "00000000-0000-4000-8000-000000000000"


def whsec() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass
class Actor:
    """One principal: how it signs in, its session (token and dashboard cookie), its path site."""

    key: str
    name: str = ""
    password: str = ""
    content_url: str = ""
    site_id: str = ""
    user_id: str = ""
    token: str = ""
    csrf: str = ""
    ui: httpx.Client | None = None

    @property
    def api(self) -> str:
        return f"/api/{API_VERSION}/sites/{self.site_id}"

    @property
    def ops(self) -> str:
        return f"/tabhooks/v1/sites/{self.site_id}"


@dataclass
class Site:
    """What one tenant holds; ids are filled in as the world is built."""

    id: str = ""
    name: str = ""
    content_url: str = ""
    webhook: str = ""
    delivery: str = ""
    project: str = ""
    workbook: str = ""
    workbook_connection: str = ""
    view: str = ""
    datasource: str = ""
    datasource_connection: str = ""
    labelled: str = ""
    flow: str = ""
    warning: str = ""
    job: str = ""
    upload: str = ""
    bin: str = ""
    bin_request: str = ""
    relay: str = ""
    bystander: str = ""
    bystander_name: str = ""
    #: Names and ids that must never appear in another tenant's answers.
    private: list[str] = field(default_factory=list)


class World:
    """The server, its tenants and the actors; builds fresh targets and sends calls."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.http = httpx.Client(base_url=server.base_url, timeout=30, follow_redirects=False)
        self.receiver = Receiver().start()
        self.tag = secrets.token_hex(3)
        self._serial = itertools.count()
        self.a = Site()
        self.b = Site()
        self.c = Site()
        self.actors: dict[str, Actor] = {}
        self.webhook_secret = whsec()
        self.bin_secret = whsec()
        self.other_bin_secret = whsec()
        self.server_admin_id = ""
        self.default_site_id = ""

    # -- names and low-level calls -------------------------------------------------------

    def unique(self, prefix: str) -> str:
        return f"mx-{self.tag}-{prefix}-{next(self._serial)}"

    def rest(self, actor: Actor) -> Rest:
        return Rest(self.server, actor.token, actor.site_id, actor.user_id, self.http)

    def json_call(self, token: str, method: str, path: str, body: Any = None) -> Any:
        response = self.http.request(
            method,
            path,
            json=body,
            headers={"X-Tableau-Auth": token, "Accept": "application/json"},
        )
        assert response.status_code < 300, (method, path, response.status_code, response.text)
        return response.json() if response.content else None

    def sign_in(self, name: str, password: str, content_url: str) -> dict[str, Any] | None:
        """The credentials of a password sign-in, or ``None`` if it was refused."""
        response = self.http.post(
            f"/api/{API_VERSION}/auth/signin",
            json={
                "credentials": {
                    "name": name,
                    "password": password,
                    "site": {"contentUrl": content_url},
                }
            },
            headers={"Accept": "application/json"},
        )
        if response.status_code != 200:
            return None
        credentials: dict[str, Any] = response.json()["credentials"]
        return credentials

    def ui_session(self, name: str, password: str, content_url: str) -> tuple[httpx.Client, str]:
        """A browser-like client after the sign-in form, and its forms' CSRF token ('' if the
        sign-in was refused)."""
        client = httpx.Client(base_url=self.server.base_url, timeout=30, follow_redirects=False)
        page = client.get("/ui/login")
        token = _CSRF_FIELD.search(page.text)
        assert token, page.text
        client.post(
            "/ui/login",
            data={"csrf": token.group(1), "name": name, "password": password, "site": content_url},
        )
        session = client.cookies.get(SESSION_COOKIE, path="/ui")
        return client, csrf_for(session) if session else ""

    # -- building ---------------------------------------------------------------------------

    def build(self) -> World:
        root = Rest.sign_in(self.server, ADMIN_USERNAME, ADMIN_PASSWORD, "")
        root.http = self.http
        self.server_admin_id = root.user_id
        self.default_site_id = root.site_id
        for site, key in ((self.a, "a"), (self.b, "b"), (self.c, "c")):
            site.name = self.unique(f"site-{key}")
            site.content_url = site.name
            created = self.json_call(
                root.token,
                "POST",
                f"/api/{API_VERSION}/sites",
                {"site": {"name": site.name, "contentUrl": site.content_url}},
            )
            site.id = created["site"]["id"]
        server_admin = self._actor(authz.SERVER_ADMIN, ADMIN_USERNAME, ADMIN_PASSWORD, self.a)
        admin_a = self.rest(server_admin)
        admin_c = Rest.sign_in(self.server, ADMIN_USERNAME, ADMIN_PASSWORD, self.c.content_url)
        admin_c.http = self.http
        admin_b = Rest.sign_in(self.server, ADMIN_USERNAME, ADMIN_PASSWORD, self.b.content_url)
        admin_b.http = self.http
        self.a.bystander_name = self.unique("bystander")
        self.a.bystander = self._user(admin_a, self.a.bystander_name, "Viewer", self.a)
        admin_c.call(
            "POST",
            "users",
            f'<tsRequest><user name="{self.a.bystander_name}" siteRole="Viewer"/></tsRequest>',
        )
        for key, role in authz.SITE_ROLES.items():
            name = self.unique(key.lower())
            self._user(admin_a, name, role, self.a)
            # Every role user also belongs to site C, so switching site has a destination.
            added = admin_c.call(
                "POST", "users", f'<tsRequest><user name="{name}" siteRole="Viewer"/></tsRequest>'
            )
            assert added.status_code == 201, added.text
            self._actor(key, name, PASSWORD, self.a)
        other_name = self.unique("other-admin")
        self._user(admin_b, other_name, "SiteAdministratorCreator", self.b)
        self._actor(authz.OTHER_SITE_ADMIN, other_name, PASSWORD, self.b)
        self.actors[authz.ANON] = Actor(
            authz.ANON,
            site_id=self.a.id,
            ui=httpx.Client(base_url=self.server.base_url, timeout=30, follow_redirects=False),
        )
        self._build_site_a(admin_a)
        self._build_site_b()
        self._unlicense(admin_a)
        return self

    def _user(self, admin: Rest, name: str, role: str, site: Site) -> str:
        user_id = admin.add_user(name, role, PASSWORD)
        changed = admin.call(
            "PUT", f"users/{user_id}", f'<tsRequest><user email="{name}@mx.example"/></tsRequest>'
        )
        assert changed.status_code == 200, changed.text
        site.private += [name, f"{name}@mx.example"]
        return user_id

    def _actor(self, key: str, name: str, password: str, site: Site) -> Actor:
        credentials = self.sign_in(name, password, site.content_url)
        assert credentials is not None, (key, name)
        client, csrf = self.ui_session(name, password, site.content_url)
        assert csrf, f"{key} could not sign in to the dashboard"
        actor = Actor(
            key,
            name,
            password,
            site.content_url,
            credentials["site"]["id"],
            credentials["user"]["id"],
            credentials["token"],
            csrf,
            client,
        )
        self.actors[key] = actor
        return actor

    def _build_site_a(self, admin: Rest) -> None:
        a = self.a
        owner = self.actors[authz.OWNER]
        a.webhook = admin.create_webhook(
            self.unique("webhook"), "DatasourceRefreshFailed", self.receiver.url
        )
        self.json_call(
            admin.token,
            "POST",
            f"/tabhooks/v1/sites/{a.id}/webhooks/{a.webhook}/secret",
            {"secret": self.webhook_secret},
        )
        self.json_call(
            admin.token,
            "POST",
            f"/tabhooks/v1/sites/{a.id}/events",
            {"event": "DatasourceRefreshFailed", "resource_name": self.unique("fired")},
        )
        (delivery,) = self.json_call(
            admin.token, "GET", f"/tabhooks/v1/sites/{a.id}/deliveries?webhook_id={a.webhook}"
        )["deliveries"]
        a.delivery = delivery["id"]
        a.project = self.project(a)
        a.workbook = self.content("workbook")
        a.datasource = self.content("datasource")
        a.labelled = self.content("datasource")
        a.flow = self.content("flow")
        a.workbook_connection = self._connection("workbooks", a.workbook)
        a.datasource_connection = self._connection("datasources", a.datasource)
        views = self.json_call(owner.token, "GET", f"{owner.api}/workbooks/{a.workbook}/views")
        a.view = views["views"]["view"][0]["id"]
        a.warning = self.warning(a.datasource)
        a.job = self.job()
        a.upload = self.json_call(owner.token, "POST", f"{owner.api}/fileUploads")["fileUpload"][
            "uploadSessionId"
        ]
        a.bin = self.bin()
        a.bin_request = self._capture(a.bin)
        a.relay = self.relay()
        a.private += [
            a.name,
            a.webhook,
            a.project,
            a.workbook,
            a.datasource,
            a.flow,
            a.view,
            a.warning,
            a.job,
            a.bin,
            a.relay,
            a.delivery,
        ]

    def _build_site_b(self) -> None:
        other = self.actors[authz.OTHER_SITE_ADMIN]
        rest = self.rest(other)
        b = self.b
        b.webhook = rest.create_webhook(
            self.unique("webhook-b"), "DatasourceRefreshFailed", self.receiver.url
        )
        name = self.unique("workbook-b")
        published = rest.publish(
            "workbooks",
            f'<tsRequest><workbook name="{name}"/></tsRequest>',
            ("tableau_workbook", f"{name}.twb", workbook_xml(connection_xml("hyper"))),
        )
        assert published.status_code == 201, published.text
        b.workbook = published.json()["workbook"]["id"]
        b.bin = self.json_call(
            other.token,
            "POST",
            "/tabhooks/v1/inbox/bins",
            {"name": self.unique("bin-b"), "signing_secret": self.other_bin_secret},
        )["id"]
        b.relay = self.relay(other)
        b.private += [b.name, b.webhook, b.workbook, name, b.bin, b.relay, self.other_bin_secret]

    def _unlicense(self, admin: Rest) -> None:
        """Use the Unlicensed actor's session once (so it is cached), then make them
        Unlicensed: from then on the session must be dead."""
        actor = self.actors[authz.UNLICENSED]
        assert self.http.get(
            f"{actor.api}/users/{actor.user_id}", headers={"X-Tableau-Auth": actor.token}
        ).is_success
        assert actor.ui is not None
        assert actor.ui.get("/ui/bins").status_code == 200
        changed = admin.call(
            "PUT",
            f"users/{actor.user_id}",
            '<tsRequest><user siteRole="Unlicensed"/></tsRequest>',
        )
        assert changed.status_code == 200, changed.text

    def _connection(self, collection: str, content_id: str) -> str:
        owner = self.actors[authz.OWNER]
        found = self.json_call(
            owner.token, "GET", f"{owner.api}/{collection}/{content_id}/connections"
        )
        return str(found["connections"]["connection"][0]["id"])

    def _capture(self, bin_id: str) -> str:
        answer = self.http.post(f"/inbox/{bin_id}/hook", json={"hello": "matrix"})
        assert answer.status_code == 200, answer.text
        return answer.headers["x-tabhooks-request-id"]

    # -- fresh targets -----------------------------------------------------------------------

    def project(self, site: Site | None = None) -> str:
        admin = self.actors[authz.SERVER_ADMIN]
        created = self.json_call(
            admin.token,
            "POST",
            f"{admin.api}/projects",
            {"project": {"name": self.unique("project"), "description": "matrix"}},
        )
        return str(created["project"]["id"])

    def content(self, kind: str) -> str:
        """A workbook, data source or flow published by the owner into A's project."""
        owner = self.actors[authz.OWNER]
        name = self.unique(kind)
        connection = connection_xml(
            "postgres", server="127.0.0.1", port="5432", dbname="mx", username="mx-user"
        )
        credentials = (
            f'<connectionCredentials name="mx-user" password="{CONNECTION_PASSWORD}" embed="true"/>'
        )
        project = f'<project id="{self.a.project}"/>'
        if kind == "workbook":
            file = ("tableau_workbook", f"{name}.twb", workbook_xml(connection))
        elif kind == "datasource":
            file = ("tableau_datasource", f"{name}.tds", datasource_xml(connection))
        else:
            file, credentials = ("tableau_flow", f"{name}.tfl", package("flow", b"{}")), ""
        published = self.rest(owner).publish(
            f"{kind}s",
            f'<tsRequest><{kind} name="{name}">{credentials}{project}</{kind}></tsRequest>',
            file,
        )
        assert published.status_code == 201, published.text
        self.a.private.append(name)
        return str(published.json()[kind]["id"])

    def warning(self, datasource: str) -> str:
        owner = self.actors[authz.OWNER]
        added = self.http.post(
            f"{owner.api}/dataQualityWarnings/datasource/{datasource}",
            content='<tsRequest><dataQualityWarning type="WARNING" message="matrix"/></tsRequest>',
            headers={"X-Tableau-Auth": owner.token, "Accept": "application/json"},
        )
        assert added.status_code < 300, added.text
        return str(added.json()["dataQualityWarning"]["id"])

    def job(self) -> str:
        """A refresh the owner queued (it stays queued: this server runs no dispatcher)."""
        owner = self.actors[authz.OWNER]
        datasource = self.content("datasource")
        queued = self.http.post(
            f"{owner.api}/datasources/{datasource}/refresh",
            content="<tsRequest/>",
            headers={"X-Tableau-Auth": owner.token, "Accept": "application/json"},
        )
        assert queued.status_code == 202, queued.text
        return str(queued.json()["job"]["id"])

    def bin(self) -> str:
        owner = self.actors[authz.OWNER]
        name = self.unique("bin")
        created = self.json_call(
            owner.token,
            "POST",
            "/tabhooks/v1/inbox/bins",
            {"name": name, "signing_secret": self.bin_secret},
        )
        self.a.private.append(name)
        return str(created["id"])

    def relay(self, actor: Actor | None = None) -> str:
        admin = actor or self.actors[authz.SITE_ADMIN_CREATOR]
        name = self.unique("relay")
        created = self.json_call(
            admin.token,
            "POST",
            "/tabhooks/v1/relays",
            {"name": name, "targets": [{"type": "http", "url": self.receiver.url}]},
        )
        (self.b if actor else self.a).private.append(name)
        return str(created["id"])

    def webhook(self) -> str:
        return self.rest(self.actors[authz.SERVER_ADMIN]).create_webhook(
            self.unique("webhook"), "DatasourceRefreshFailed", self.receiver.url
        )

    def user(self) -> tuple[str, str]:
        """A user of site A only (no password: none is needed to be changed or removed)."""
        admin = self.rest(self.actors[authz.SERVER_ADMIN])
        name = self.unique("target")
        added = admin.call(
            "POST", "users", f'<tsRequest><user name="{name}" siteRole="Viewer"/></tsRequest>'
        )
        assert added.status_code == 201, added.text
        user_id = re.search(r' id="([^"]+)"', added.text)
        assert user_id
        email = f"{name}@mx.example"
        changed = admin.call(
            "PUT", f"users/{user_id.group(1)}", f'<tsRequest><user email="{email}"/></tsRequest>'
        )
        assert changed.status_code == 200, changed.text
        return user_id.group(1), name

    def pat(self, actor: Actor, user: str | None = None) -> str:
        """The name of a new personal access token of ``actor`` (or, made by ``actor``, of
        ``user``); just a name if ``actor`` cannot make one."""
        name = self.unique("pat")
        body: dict[str, str] = {"name": name} if user is None else {"name": name, "user": user}
        self.http.post(
            "/tabhooks/v1/personal-access-tokens",
            json=body,
            headers={"X-Tableau-Auth": actor.token},
        )
        return name

    def site(self) -> str:
        admin = self.actors[authz.SERVER_ADMIN]
        name = self.unique("doomed")
        created = self.json_call(
            admin.token,
            "POST",
            f"/api/{API_VERSION}/sites",
            {"site": {"name": name, "contentUrl": name}},
        )
        return str(created["site"]["id"])

    def fresh_login(self, actor: Actor) -> Actor:
        """The same principal on a new session of its own (what sign-out and switch consume)."""
        if actor.key == authz.ANON:
            return actor
        credentials = self.sign_in(actor.name, actor.password, actor.content_url)
        client, csrf = self.ui_session(actor.name, actor.password, actor.content_url)
        return Actor(
            actor.key,
            actor.name,
            actor.password,
            actor.content_url,
            actor.site_id,
            actor.user_id,
            credentials["token"] if credentials else "",
            csrf,
            client,
        )

    # -- sending -------------------------------------------------------------------------

    def send(self, actor: Actor, call: authz.Call) -> httpx.Response:
        """``call`` as ``actor``: the dashboard client for pages, the token for the APIs."""
        if call.fresh_login:
            actor = self.fresh_login(actor)
        if call.ui:
            client = actor.ui
            assert client is not None
            data = {**call.form, "csrf": actor.csrf} if call.form is not None else None
            return self._request(client, call, data=data, headers=dict(call.headers))
        headers = dict(call.headers)
        if actor.token:
            headers["X-Tableau-Auth"] = actor.token
        return self._request(self.http, call, headers=headers)

    def _request(
        self,
        client: httpx.Client,
        call: authz.Call,
        *,
        headers: dict[str, str],
        data: dict[str, str] | None = None,
    ) -> httpx.Response:
        request = client.build_request(
            call.method,
            call.path,
            json=call.json,
            content=call.content,
            data=data,
            params=call.params,
            headers=headers,
        )
        response = client.send(request, stream=call.stream)
        if call.stream:
            response.close()
        return response

    def forbidden_strings(self, actor: Actor, capability: bool = False) -> list[str]:
        """What ``actor`` must never be shown, whatever it calls.

        Args:
            capability: the page is open to whoever holds its URL: only secrets count.
        """
        never = [CONNECTION_PASSWORD]
        if actor.key not in authz.BIN_MANAGERS:
            never.append(self.bin_secret)
        if actor.key not in authz.SITE_ADMINS:
            never.append(self.webhook_secret)
        if capability:
            return never
        if actor.key == authz.OTHER_SITE_ADMIN:
            never += self.a.private
        elif actor.key == authz.SERVER_ADMIN:
            never += [s for s in self.b.private if s != self.b.name]
        elif actor.key != authz.ANON:
            never += self.b.private
        return never

    def close(self) -> None:
        for actor in self.actors.values():
            if actor.ui is not None:
                actor.ui.close()
        self.http.close()
        self.receiver.stop()


def actors_of(world: World) -> Iterator[Actor]:
    for key in authz.PRINCIPALS:
        yield world.actors[key]
