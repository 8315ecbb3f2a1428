"""What the server hands out: bin secrets only to who manages the bin, links only to hosts that
are ours, bin answers without headers that act on the browser, and the security headers on
every HTML response — each checked against a real server over HTTP."""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
from fastapi.routing import iter_route_contexts
from starlette.routing import Mount

from tabhooks.api.app import create_app
from tabhooks.config import Settings
from tabhooks.store import open_store
from tabhooks.web.headers import SECURITY_HEADERS
from tests.conftest import database_url_for
from tests.support.receiver import Receiver
from tests.support.rest import Rest
from tests.support.server import ADMIN_PASSWORD, ADMIN_USERNAME, ServerProcess

_CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')
SECRET = "whsec_" + "A" * 43 + "="
PASSWORD = "handed-out-password-1"


def _bins(server: ServerProcess) -> str:
    return f"{server.base_url}/tabhooks/v1/inbox/bins"


def _json(rest: Rest) -> dict[str, str]:
    return {"X-Tableau-Auth": rest.token, "Accept": "application/json"}


def _create_bin(server: ServerProcess, rest: Rest, **settings: Any) -> dict[str, Any]:
    response = httpx.post(_bins(server), json=settings, headers=_json(rest))
    assert response.status_code == 201, response.text
    return dict(response.json())


def _user(server: ServerProcess, admin: Rest, role: str) -> tuple[str, Rest]:
    """A new user of the admin's site with ``role``: their name, signed in over REST."""
    name = f"{role.lower()}-{uuid.uuid4().hex[:6]}"
    admin.add_user(name, role, PASSWORD)
    return name, Rest.sign_in(server, name, PASSWORD)


@contextmanager
def _ui_client(server: ServerProcess, name: str, password: str) -> Iterator[httpx.Client]:
    """A browser-like client signed in to the dashboard as ``name``."""
    with httpx.Client(base_url=server.base_url, follow_redirects=False, timeout=10) as client:
        token = _CSRF_FIELD.search(client.get("/ui/login").text)
        assert token
        form = {"csrf": token.group(1), "name": name, "password": password, "site": ""}
        signed_in = client.post("/ui/login", data=form)
        assert signed_in.status_code == 303, signed_in.text
        yield client


# --- Bin secrets: shown to whoever may manage the bin ------------------------------------------


def test_bin_secret_is_shown_only_to_its_creator_and_administrators(
    server: ServerProcess, admin: Rest
) -> None:
    _, viewer = _user(server, admin, "Viewer")
    _, creator = _user(server, admin, "Creator")
    _, site_admin = _user(server, admin, "SiteAdministratorCreator")
    admins_bin = _create_bin(server, admin, name="admin's", signing_secret=SECRET)
    assert admins_bin["signing_secret"] == SECRET
    creators_bin = _create_bin(server, creator, name="creator's", signing_secret=SECRET)
    assert creators_bin["signing_secret"] == SECRET  # the creator manages their own bin

    def seen_by(rest: Rest, bin_id: str) -> tuple[str | None, str | None]:
        one = httpx.get(f"{_bins(server)}/{bin_id}", headers=_json(rest))
        assert one.status_code == 200, one.text
        listed = httpx.get(_bins(server), headers=_json(rest)).json()["bins"]
        in_list = next(b for b in listed if b["id"] == bin_id)
        return one.json()["signing_secret"], in_list["signing_secret"]

    assert seen_by(viewer, admins_bin["id"]) == (None, None)
    assert seen_by(viewer, creators_bin["id"]) == (None, None)
    assert seen_by(creator, admins_bin["id"]) == (None, None)
    assert seen_by(creator, creators_bin["id"]) == (SECRET, SECRET)
    assert seen_by(site_admin, creators_bin["id"]) == (SECRET, SECRET)
    assert seen_by(admin, creators_bin["id"]) == (SECRET, SECRET)


def test_only_who_manages_a_bin_may_change_clear_delete_or_replay_from_it(
    server: ServerProcess, admin: Rest
) -> None:
    _, viewer = _user(server, admin, "Viewer")
    bin_ = _create_bin(server, admin, signing_secret=SECRET)
    url = f"{_bins(server)}/{bin_['id']}"
    assert httpx.post(bin_["url"], content=b"{}").status_code == 200
    request_id = httpx.get(f"{url}/requests", headers=_json(viewer)).json()["requests"][0]["id"]
    attempts = [
        httpx.patch(url, json={"signing_secret": ""}, headers=_json(viewer)),
        httpx.patch(url, json={"name": "mine now"}, headers=_json(viewer)),
        httpx.post(
            f"{url}/requests/{request_id}/replay", json={"url": bin_["url"]}, headers=_json(viewer)
        ),
        httpx.delete(f"{url}/requests", headers=_json(viewer)),
        httpx.delete(url, headers=_json(viewer)),
    ]
    for refused in attempts:
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "403000"
    unchanged = httpx.get(url, headers=_json(admin)).json()
    assert unchanged["signing_secret"] == SECRET and unchanged["name"] == bin_["name"]
    # Their own bin is theirs to change, and its secret theirs to see.
    own = _create_bin(server, viewer)
    changed = httpx.patch(
        f"{_bins(server)}/{own['id']}", json={"signing_secret": SECRET}, headers=_json(viewer)
    )
    assert changed.status_code == 200 and changed.json()["signing_secret"] == SECRET


def test_bin_page_shows_settings_and_secret_only_to_who_manages_the_bin(
    server: ServerProcess, admin: Rest
) -> None:
    viewer_name, _ = _user(server, admin, "Viewer")
    bin_ = _create_bin(server, admin, signing_secret=SECRET)
    assert httpx.post(bin_["url"], content=b"{}").status_code == 200
    page = f"/ui/bins/{bin_['id']}"
    with _ui_client(server, viewer_name, PASSWORD) as as_viewer:
        shown = as_viewer.get(page)
        assert shown.status_code == 200
        assert SECRET not in shown.text and 'id="settings-form"' not in shown.text
        assert "Replay as POST" not in shown.text
        csrf = _CSRF_FIELD.search(as_viewer.get("/ui/bins").text)
        assert csrf
        refused = as_viewer.post(
            f"{page}/settings", data={"csrf": csrf.group(1), "signing_secret": ""}
        )
        assert refused.status_code == 403 and "text/html" in refused.headers["content-type"]
    with _ui_client(server, ADMIN_USERNAME, ADMIN_PASSWORD) as as_admin:
        shown = as_admin.get(page)
        assert SECRET in shown.text and 'id="settings-form"' in shown.text
        assert "Replay as POST" in shown.text
    anonymous = httpx.get(f"{server.base_url}{page}")
    assert anonymous.status_code == 200 and SECRET not in anonymous.text


# --- Hosts: links never follow a Host that is not ours ------------------------------------------


def _port(server: ServerProcess) -> int:
    port = urlsplit(server.base_url).port
    assert port is not None
    return port


def test_a_foreign_host_is_refused_everywhere_links_are_built(
    server: ServerProcess, admin: Rest
) -> None:
    evil = {"Host": "evil.example", **_json(admin)}
    calls = [
        ("POST", "/tabhooks/v1/inbox/bins"),
        ("GET", "/tabhooks/v1/inbox/bins"),
        ("GET", f"/api/3.28/sites/{admin.site_id}/workbooks"),
        ("GET", "/tabhooks/v1/relays"),
        ("POST", "/relay/rly_unknown"),
        ("GET", "/ui/login"),
        ("GET", "/tabhooks/docs"),
        ("GET", "/api/3.28/serverinfo"),
    ]
    for method, path in calls:
        answer = httpx.request(method, f"{server.base_url}{path}", headers=evil, json={})
        assert answer.status_code == 400, (path, answer.text)
        assert answer.text == "Invalid host header"
    # The loopback names are ours: links follow the one the client used.
    for host in ("127.0.0.1", "localhost"):
        made = httpx.post(
            _bins(server), headers={"Host": f"{host}:{_port(server)}", **_json(admin)}
        )
        assert made.status_code == 201, made.text
        assert made.json()["url"].startswith(f"http://{host}:{_port(server)}/inbox/bin_")


@pytest.fixture(scope="module")
def public_server(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("public")
    env = {
        "TABHOOKS_PUBLIC_URL": "https://hooks.example.test",
        "TABHOOKS_ALLOWED_HOSTS": "tabhooks.internal",
    }
    running = ServerProcess(database_url_for(backend, request, workdir), workdir, env).start()
    yield running
    running.stop()


def test_links_use_the_public_url_and_allowed_hosts_are_answered(
    public_server: ServerProcess,
) -> None:
    admin = Rest.sign_in(public_server)
    port = _port(public_server)
    for host in (f"127.0.0.1:{port}", "hooks.example.test", f"tabhooks.internal:{port}"):
        made = httpx.post(_bins(public_server), headers={"Host": host, **_json(admin)})
        assert made.status_code == 201, (host, made.text)
        bin_ = made.json()
        assert bin_["url"] == f"https://hooks.example.test/inbox/{bin_['id']}"
        assert bin_["ui_url"] == f"https://hooks.example.test/ui/bins/{bin_['id']}"
    refused = httpx.post(_bins(public_server), headers={"Host": "evil.example", **_json(admin)})
    assert refused.status_code == 400


def test_relay_open_link_uses_the_public_url(public_server: ServerProcess) -> None:
    admin = Rest.sign_in(public_server)
    receiver = Receiver().start()
    try:
        route = httpx.post(
            f"{public_server.base_url}/tabhooks/v1/relays",
            json={
                "name": "links",
                "targets": [
                    {
                        "type": "http",
                        "url": receiver.url,
                        "template": '{"link": {{ event.link | tojson }}}',
                    }
                ],
            },
            headers=_json(admin),
        )
        assert route.status_code == 201, route.text
        assert route.json()["inbound_url"].startswith("https://hooks.example.test/relay/rly_")
        tested = httpx.post(
            f"{public_server.base_url}/tabhooks/v1/relays/{route.json()['id']}/test",
            json={"event": "DatasourceRefreshFailed"},
            headers=_json(admin),
        )
        assert tested.status_code == 202, tested.text
        link = json.loads(receiver.wait_for(1)[0].body)["link"]
        assert link.startswith("https://hooks.example.test/ui/content/datasources/"), link
    finally:
        receiver.stop()


def test_the_relay_role_answers_only_its_hosts_too(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    env = {"TABHOOKS_ROLES": "relay", "TABHOOKS_PUBLIC_URL": "https://relay.example.test"}
    relay = ServerProcess(database_url_for(backend, request, tmp_path), tmp_path, env).start()
    try:
        inbound = f"{relay.base_url}/relay/rly_unknown"
        assert httpx.post(inbound, headers={"Host": "evil.example"}, json={}).status_code == 400
        for host in ("relay.example.test", f"127.0.0.1:{_port(relay)}"):
            answer = httpx.post(inbound, headers={"Host": host}, json={})
            assert answer.status_code == 404, (host, answer.text)  # past the host check
    finally:
        relay.stop()


# --- Bin answers: no header that acts on the browser, redirects only to this server ------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Location", "https://evil.example/"),
        ("Location", "//evil.example/"),
        ("Refresh", "0; url=https://evil.example/"),
        ("Clear-Site-Data", '"cookies"'),
        ("Set-Cookie", "tabhooks_session=stolen; Path=/ui"),
        ("Link", "</inbox/x/style.css>; rel=stylesheet"),
        ("Access-Control-Allow-Origin", "*"),
    ],
)
def test_bin_answer_headers_that_act_on_the_browser_are_refused(
    server: ServerProcess, admin: Rest, name: str, value: str
) -> None:
    bin_ = _create_bin(server, admin)
    for answer in (
        httpx.patch(
            f"{_bins(server)}/{bin_['id']}",
            json={"response_status": 302, "response_headers": {name: value}},
            headers=_json(admin),
        ),
        httpx.post(_bins(server), json={"response_headers": {name: value}}, headers=_json(admin)),
    ):
        assert answer.status_code == 400, answer.text
        error = answer.json()["error"]
        assert error["code"] == "400000" and name in error["detail"]
    with _ui_client(server, ADMIN_USERNAME, ADMIN_PASSWORD) as page:
        csrf = _CSRF_FIELD.search(page.get("/ui/bins").text)
        assert csrf
        form = page.post(
            f"/ui/bins/{bin_['id']}/settings",
            data={"csrf": csrf.group(1), "response_headers": f"{name}: {value}"},
        )
        assert form.status_code == 400 and name in form.text


def test_bin_redirects_within_this_server_and_sends_harmless_headers(
    server: ServerProcess, admin: Rest
) -> None:
    bin_ = _create_bin(server, admin)
    for location in (f"/inbox/{bin_['id']}/next", f"{server.base_url}/inbox/{bin_['id']}/next"):
        chosen = {"Location": location, "Retry-After": "7", "X-Env": "test"}
        changed = httpx.patch(
            f"{_bins(server)}/{bin_['id']}",
            json={"response_status": 302, "response_headers": chosen},
            headers=_json(admin),
        )
        assert changed.status_code == 200, changed.text
        answer = httpx.post(bin_["url"], content=b"{}")
        assert answer.status_code == 302
        assert answer.headers["location"] == location
        assert answer.headers["retry-after"] == "7" and answer.headers["x-env"] == "test"
        assert answer.headers["content-security-policy"] == "sandbox"


def _store_headers_directly(database_url: str, bin_id: str, headers: dict[str, str]) -> None:
    """Write a bin's headers past the API, as a bin saved before the allow-list would hold."""
    if database_url.startswith("sqlite"):
        with sqlite3.connect(Path(database_url.removeprefix("sqlite:///"))) as conn:
            conn.execute(
                "UPDATE inbox_bins SET response_headers = ? WHERE id = ?",
                (json.dumps(headers), bin_id),
            )
        return
    with psycopg.connect(database_url) as pg:
        pg.execute(
            "UPDATE inbox_bins SET response_headers = %s WHERE id = %s",
            (json.dumps(headers), bin_id),
        )


def test_a_stored_refused_header_is_not_sent(server: ServerProcess, admin: Rest) -> None:
    bin_ = _create_bin(server, admin, response_status=302)
    stored = {
        "Refresh": "0; url=https://evil.example/",
        "Clear-Site-Data": '"cookies"',
        "Location": "https://evil.example/",
        "X-Env": "kept",
    }
    _store_headers_directly(server.database_url, bin_["id"], stored)
    answer = httpx.post(bin_["url"], content=b"{}")
    assert answer.status_code == 302
    assert "refresh" not in answer.headers and "clear-site-data" not in answer.headers
    assert "location" not in answer.headers and answer.headers["x-env"] == "kept"
    captured = httpx.get(f"{_bins(server)}/{bin_['id']}/requests", headers=_json(admin))
    note = captured.json()["requests"][0]["note"]
    assert note == "refused header(s) not sent: Refresh, Clear-Site-Data, Location"


# --- Every HTML response carries the security headers -------------------------------------------


def _ui_routes(tmp_path: Path) -> list[tuple[str, str]]:
    """Every ``/ui`` route (path, method) in the app's own route table, plus the API docs page
    and the first page (``/``)."""
    url = f"sqlite:///{tmp_path / 'routes.db'}"
    app = create_app(Settings(database_url=url), open_store(url))
    found: list[tuple[str, str]] = []
    for context in iter_route_contexts(app.routes):
        path = context.path or ""
        if isinstance(context.original_route, Mount):
            continue
        if path.startswith("/ui") or path in ("/tabhooks/docs", "/"):
            found += [
                (path, method) for method in sorted(context.methods or ()) if method != "HEAD"
            ]
    return found


def _assert_secured(response: httpx.Response, what: str) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (what, name, dict(response.headers))


def test_every_html_response_carries_the_security_headers(
    server: ServerProcess, admin: Rest, tmp_path: Path
) -> None:
    bin_ = _create_bin(server, admin)
    assert httpx.post(bin_["url"], json={"hello": "world"}).status_code == 200
    request_id = httpx.get(f"{_bins(server)}/{bin_['id']}/requests", headers=_json(admin)).json()[
        "requests"
    ][0]["id"]
    webhook_id = admin.create_webhook("headers", "WorkbookCreated", bin_["url"])
    fired = httpx.post(
        f"{admin.ops_url}/events",
        json={"event": "WorkbookCreated", "resource_name": "Superstore"},
        headers=_json(admin),
    )
    assert fired.status_code == 201, fired.text
    delivery_id = admin.deliveries(webhook_id)[0]["id"]
    values = {
        "bin_id": bin_["id"],
        "request_id": request_id,
        "webhook_id": webhook_id,
        "delivery_id": delivery_id,
        # Pages of things that do not exist are HTML pages too (404s): they count as well.
        "route_id": "rly_none",
        "view_id": "none",
        "section": "workbooks",
        "content_id": "none",
        "name": "README.md",
    }
    routes = _ui_routes(tmp_path)
    assert ("/ui/deliveries/{delivery_id}/attempts", "GET") in routes
    assert ("/ui/webhooks/{webhook_id}/deliveries", "GET") in routes
    html_pages: set[str] = set()
    with _ui_client(server, ADMIN_USERNAME, ADMIN_PASSWORD) as browser:
        for path, method in routes:
            url = path.format(**values)
            if path.endswith("/stream"):
                with browser.stream(method, url) as streamed:
                    assert streamed.status_code == 200
                continue
            # A form without its CSRF token is refused with an HTML page: it counts too.
            answer = browser.request(method, url, data={} if method == "POST" else None)
            assert answer.status_code < 500, (method, url, answer.text)
            if answer.headers.get("content-type", "").startswith("text/html"):
                _assert_secured(answer, f"{method} {url}")
                html_pages.add(path)
            else:
                assert answer.status_code in (303, 307), (method, url, answer.headers)
        _assert_secured(browser.get("/ui/no-such-page"), "404 page")
    assert "/ui/deliveries/{delivery_id}/attempts" in html_pages
    assert "/ui/webhooks/{webhook_id}/deliveries" in html_pages
    assert "/tabhooks/docs" in html_pages
    assert "/" in html_pages
