"""The inspector end to end over HTTP: bins, capture, retention, chosen answers and chaos,
Tableau recognition, signatures, duplicates, replay, live streams (across processes on
PostgreSQL) and the dashboard's sign-in and CSRF rules — real server, real receivers."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.conftest import database_url_for
from tests.support.receiver import Received, Receiver
from tests.support.server import ADMIN_PASSWORD, ADMIN_USERNAME, ServerProcess

#: Retries fast enough to watch a failed attempt become a success within a test.
FAST_RETRIES = {
    "TABHOOKS_DELIVERY_RETRY_SCHEDULE": "0.3s,0.3s,0.3s",
    "TABHOOKS_DELIVERY_OVERLOAD_FLOOR_S": "0",
    "TABHOOKS_DELIVERY_TIMEOUT_S": "2",
    "TABHOOKS_DELIVERY_CONNECT_TIMEOUT_S": "1",
    "TABHOOKS_DELIVERY_LEASE_S": "8",
    "TABHOOKS_DELIVERY_POLL_INTERVAL_S": "0.1",
}
INBOX_BODY_LIMIT = 2048
WAIT_S = 15.0


class Admin:
    """The bootstrap admin of a running server, with the calls inbox tests need."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        response = httpx.post(
            f"{base_url}/api/3.28/auth/signin",
            json={
                "credentials": {
                    "name": ADMIN_USERNAME,
                    "password": ADMIN_PASSWORD,
                    "site": {"contentUrl": ""},
                }
            },
            headers={"Accept": "application/json"},
        )
        response.raise_for_status()
        credentials = response.json()["credentials"]
        self.token: str = credentials["token"]
        self.site_id: str = credentials["site"]["id"]
        self.headers = {"X-Tableau-Auth": self.token, "Accept": "application/json"}
        self.bins_url = f"{base_url}/tabhooks/v1/inbox/bins"
        self.ops = f"{base_url}/tabhooks/v1/sites/{self.site_id}"

    def create_bin(self, **settings: Any) -> dict[str, Any]:
        response = httpx.post(self.bins_url, json=settings, headers=self.headers)
        assert response.status_code == 201, response.text
        return response.json()

    def update_bin(self, bin_id: str, **settings: Any) -> dict[str, Any]:
        response = httpx.patch(f"{self.bins_url}/{bin_id}", json=settings, headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json()

    def requests(self, bin_id: str, **params: Any) -> list[dict[str, Any]]:
        response = httpx.get(
            f"{self.bins_url}/{bin_id}/requests", params=params, headers=self.headers
        )
        assert response.status_code == 200, response.text
        return response.json()["requests"]

    def wait_requests(self, bin_id: str, count: int) -> list[dict[str, Any]]:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            found = self.requests(bin_id)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"expected {count} requests in {bin_id}, got {self.requests(bin_id)}")

    def create_webhook(self, name: str, url: str, event: str = "WorkbookCreated") -> str:
        response = httpx.post(
            f"{self.base_url}/api/3.28/sites/{self.site_id}/webhooks",
            json={
                "webhook": {
                    "name": name,
                    "event": event,
                    "webhook-destination": {
                        "webhook-destination-http": {"method": "POST", "url": url}
                    },
                }
            },
            headers=self.headers,
        )
        assert response.status_code == 201, response.text
        return response.json()["webhook"]["id"]

    def fire(self, event: str = "WorkbookCreated", name: str = "Superstore") -> dict[str, Any]:
        response = httpx.post(
            f"{self.ops}/events", json={"event": event, "resource_name": name}, headers=self.headers
        )
        assert response.status_code == 201, response.text
        return response.json()

    def rotate_secret(self, webhook_id: str, secret: str | None = None) -> str:
        response = httpx.post(
            f"{self.ops}/webhooks/{webhook_id}/secret",
            json={"secret": secret} if secret else None,
            headers=self.headers,
        )
        assert response.status_code == 201, response.text
        return response.json()["current"]

    def settled(self, webhook_id: str) -> dict[str, Any]:
        """The webhook's one delivery once it succeeded or failed, with its attempt log."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            found = httpx.get(
                f"{self.ops}/deliveries", params={"webhook_id": webhook_id}, headers=self.headers
            ).json()["deliveries"]
            if found and found[0]["status"] in ("succeeded", "failed"):
                return httpx.get(
                    f"{self.ops}/deliveries/{found[0]['id']}", headers=self.headers
                ).json()
            time.sleep(0.05)
        raise AssertionError(f"delivery of {webhook_id} did not settle")


_CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


def ui_login(base_url: str, password: str = ADMIN_PASSWORD) -> tuple[httpx.Client, httpx.Response]:
    """A browser-like client after submitting the sign-in form, and the form's answer."""
    client = httpx.Client(base_url=base_url, follow_redirects=False, timeout=10)
    page = client.get("/ui/login")
    token = _CSRF_FIELD.search(page.text)
    assert token, page.text
    response = client.post(
        "/ui/login",
        data={"csrf": token.group(1), "name": ADMIN_USERNAME, "password": password, "site": ""},
    )
    return client, response


def ui_client(base_url: str) -> tuple[httpx.Client, str]:
    """A browser-like client signed in to the dashboard, and its CSRF token."""
    client, response = ui_login(base_url)
    assert response.status_code == 303, response.text
    home = client.get("/ui/bins")
    csrf = _CSRF_FIELD.search(home.text)
    assert csrf, home.text
    return client, csrf.group(1)


@pytest.fixture(scope="module")
def inbox_server(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("inbox")
    env = {**FAST_RETRIES, "TABHOOKS_INBOX_MAX_BODY_BYTES": str(INBOX_BODY_LIMIT)}
    running = ServerProcess(database_url_for(backend, request, workdir), workdir, env).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def admin(inbox_server: ServerProcess) -> Admin:
    return Admin(inbox_server.base_url)


_names = iter(range(10**6))


def _name(prefix: str) -> str:
    return f"{prefix}-{next(_names)}"


def test_capture_keeps_method_path_query_headers_body_and_client(admin: Admin) -> None:
    created = admin.create_bin(name="capture")
    assert set(created) >= {"id", "url", "ui_url"}
    assert created["url"] == f"{admin.base_url}/inbox/{created['id']}"
    assert created["ui_url"] == f"{admin.base_url}/ui/bins/{created['id']}"
    answer = httpx.request(
        "PROPFIND",
        f"{created['url']}/deep/path?x=1&x=2&empty=",
        content=b'{"hello": "world"}',
        headers={"X-Custom": "value", "Content-Type": "application/json"},
    )
    assert answer.status_code == 200
    assert answer.headers["content-security-policy"] == "sandbox"
    assert answer.headers["x-tabhooks-request-id"].startswith("req_")
    (stored,) = admin.requests(created["id"])
    assert stored["id"] == answer.headers["x-tabhooks-request-id"]
    assert stored["method"] == "PROPFIND"
    assert stored["path"] == "/deep/path"
    assert stored["query"] == "x=1&x=2&empty="
    assert ["x-custom", "value"] in stored["headers"]
    assert stored["body"] == '{"hello": "world"}' and stored["body_base64"] is False
    assert stored["body_size"] == 18 and stored["truncated"] is False
    assert stored["client_addr"] == "127.0.0.1"
    assert stored["response_status"] == 200 and stored["tableau"] is None
    assert abs(time.time() - _epoch(stored["received_at"])) < 120
    binary = httpx.put(created["url"], content=b"\xff\x00\xfe")
    assert binary.status_code == 200
    newest = admin.requests(created["id"])[0]
    assert newest["method"] == "PUT" and newest["body_base64"] is True and newest["body"] == "/wD+"
    listed = httpx.get(admin.bins_url, headers=admin.headers).json()["bins"]
    assert any(b["id"] == created["id"] and b["request_count"] == 2 for b in listed)


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def test_bins_api_needs_sign_in_and_unknown_bins_are_404(admin: Admin) -> None:
    assert httpx.post(admin.bins_url).status_code == 401
    assert httpx.get(admin.bins_url).status_code == 401
    missing = httpx.get(f"{admin.bins_url}/bin_nope", headers=admin.headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "404003"
    assert httpx.post(f"{admin.base_url}/inbox/bin_nope", content=b"x").status_code == 404


def test_retention_keeps_the_newest_and_drops_by_age(admin: Admin) -> None:
    small = admin.create_bin(max_requests=3)
    for i in range(5):
        httpx.post(small["url"], content=f"n{i}".encode()).raise_for_status()
    assert [r["body"] for r in admin.requests(small["id"])] == ["n4", "n3", "n2"]
    brief = admin.create_bin(max_age_s=1)
    httpx.post(brief["url"], content=b"old").raise_for_status()
    assert len(admin.requests(brief["id"])) == 1
    time.sleep(1.5)
    assert admin.requests(brief["id"]) == []
    httpx.post(brief["url"], content=b"new").raise_for_status()
    assert [r["body"] for r in admin.requests(brief["id"])] == ["new"]


def test_body_over_the_inbox_limit_is_counted_not_kept(admin: Admin) -> None:
    created = admin.create_bin()
    httpx.post(created["url"], content=b"a" * 5000).raise_for_status()
    (stored,) = admin.requests(created["id"])
    assert stored["body_size"] == 5000 and stored["truncated"] is True
    assert len(stored["body"]) == INBOX_BODY_LIMIT


def test_chosen_status_headers_body_and_delay(admin: Admin) -> None:
    created = admin.create_bin(
        response_status=202,
        response_body='{"queued": true}',
        response_headers={"Content-Type": "application/json", "X-Env": "test"},
        response_delay_s=0.5,
    )
    started = time.monotonic()
    answer = httpx.post(created["url"], content=b"{}", timeout=10)
    assert time.monotonic() - started >= 0.5
    assert answer.status_code == 202 and answer.json() == {"queued": True}
    assert answer.headers["x-env"] == "test"
    assert answer.headers["content-security-policy"] == "sandbox"
    assert admin.requests(created["id"])[0]["response_status"] == 202


@pytest.mark.parametrize(
    "settings",
    [
        {"response_headers": {"Set-Cookie": "tabhooks_session=x"}},
        {"response_headers": {"Bad Name": "x"}},
        {"response_delay_s": 31},
        {"response_status": 99},
        {"fail_percent": 101},
        {"signing_secret": "whsec_not base64!"},
        {"max_requests": 0},
    ],
    ids=["set-cookie", "header-name", "delay", "status", "percent", "secret", "retention"],
)
def test_invalid_settings_are_refused(admin: Admin, settings: dict[str, Any]) -> None:
    response = httpx.post(admin.bins_url, json=settings, headers=admin.headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"].startswith("400")


def test_fail_next_then_percent_then_chosen_answer(admin: Admin) -> None:
    created = admin.create_bin(fail_next=2)
    statuses = [httpx.post(created["url"], content=b"{}").status_code for _ in range(3)]
    assert statuses == [500, 500, 200]
    notes = [r["note"] for r in reversed(admin.requests(created["id"]))]
    assert "1 more to fail" in notes[0] and "0 more to fail" in notes[1] and notes[2] is None
    assert admin.update_bin(created["id"], fail_percent=100, fail_status=503)["fail_next"] == 0
    assert httpx.post(created["url"]).status_code == 503
    admin.update_bin(created["id"], fail_percent=0)
    assert httpx.post(created["url"]).status_code == 200


def test_never_answer_holds_until_the_sender_gives_up(admin: Admin) -> None:
    created = admin.create_bin(never_answer=True)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(created["url"], content=b"{}", timeout=httpx.Timeout(10, read=1))
    (stored,) = admin.wait_requests(created["id"], 1)
    assert stored["response_status"] is None and "never answered" in stored["note"]


def test_tableau_delivery_is_recognised_verified_and_retries_flagged_duplicate(
    admin: Admin,
) -> None:
    created = admin.create_bin(fail_next=1)
    webhook_id = admin.create_webhook(_name("inbox"), created["url"], "DatasourceRefreshFailed")
    secret = admin.rotate_secret(webhook_id)
    admin.update_bin(created["id"], signing_secret=secret)
    fired = admin.fire("DatasourceRefreshFailed", "Nightly Extract")
    delivery = admin.settled(webhook_id)
    assert delivery["status"] == "succeeded" and delivery["attempts"] == 2
    second, first = admin.wait_requests(created["id"], 2)
    assert first["response_status"] == 500 and second["response_status"] == 200
    assert first["webhook_id"] == second["webhook_id"] == delivery["id"]
    assert (first["occurrence"], second["occurrence"]) == (1, 2)
    assert first["duplicate"] and second["duplicate"] and second["occurrences"] == 2
    assert first["signature"] == second["signature"] == "valid"
    event = second["tableau"]
    assert event["event_type"] == "DatasourceRefreshFailed" and event["known_event"]
    assert event["resource"] == "EXTRACTS" and event["resource_name"] == "Nightly Extract"
    assert event["resource_luid"] == fired["resource_luid"]
    assert event["rest_path"] == (
        f"/api/3.28/sites/{admin.site_id}/datasources/{fired['resource_luid']}"
    )
    admin.update_bin(created["id"], signing_secret="whsec_" + "A" * 43 + "=")
    assert {r["signature"] for r in admin.requests(created["id"])} == {"invalid"}
    httpx.post(created["url"], content=b"{}").raise_for_status()
    assert admin.requests(created["id"])[0]["signature"] == "unsigned"


def test_clear_then_delete(admin: Admin) -> None:
    created = admin.create_bin()
    httpx.post(created["url"], content=b"1").raise_for_status()
    cleared = httpx.delete(f"{admin.bins_url}/{created['id']}/requests", headers=admin.headers)
    assert cleared.status_code == 204 and admin.requests(created["id"]) == []
    deleted = httpx.delete(f"{admin.bins_url}/{created['id']}", headers=admin.headers)
    assert deleted.status_code == 204
    assert httpx.post(created["url"], content=b"2").status_code == 404
    assert httpx.get(f"{admin.bins_url}/{created['id']}", headers=admin.headers).status_code == 404


def _captured_then_replayed(
    admin: Admin, body: bytes, headers: dict[str, str], receiver: Receiver
) -> tuple[dict[str, Any], Received]:
    """Capture ``body`` with ``headers`` in a new bin, replay it to ``receiver``: the replay's
    answer and what arrived."""
    created = admin.create_bin()
    httpx.post(created["url"], content=body, headers=headers).raise_for_status()
    (stored,) = admin.requests(created["id"])
    try:
        result = httpx.post(
            f"{admin.bins_url}/{created['id']}/requests/{stored['id']}/replay",
            json={"url": receiver.url},
            headers=admin.headers,
        )
        assert result.status_code == 200, result.text
        (arrived,) = receiver.wait_for(1)
    finally:
        receiver.stop()
    return result.json(), arrived


def test_replay_sends_the_captured_request_through_the_sender(admin: Admin) -> None:
    result, arrived = _captured_then_replayed(
        admin,
        b'{"event_type": "WorkbookCreated"}',
        {"webhook-id": "msg_replayed", "Content-Type": "application/json"},
        Receiver(status=201, body=b"got it").start(),
    )
    assert result["status"] == 201 and result["response_body"] == "got it"
    assert arrived.method == "POST" and arrived.body == b'{"event_type": "WorkbookCreated"}'
    assert arrived.headers["webhook-id"] == "msg_replayed"


def test_replay_drops_credentials_and_hop_by_hop_headers(admin: Admin) -> None:
    """Replay sends on what ``tabhooks listen --forward`` does: no credentials, and no header
    the sender's ``Connection`` named hop-by-hop (replay once kept a list of its own, which
    sent such a header on)."""
    _, arrived = _captured_then_replayed(
        admin,
        b"{}",
        {
            "webhook-id": "msg_kept",
            "Authorization": "Bearer not-for-the-replay",
            "Cookie": "session=not-for-the-replay",
            "X-Tableau-Auth": "not-for-the-replay",
            "Connection": "keep-alive, X-Hop",
            "X-Hop": "this hop only",
        },
        Receiver().start(),
    )
    assert arrived.headers["webhook-id"] == "msg_kept"
    for dropped in ("authorization", "cookie", "x-tableau-auth", "x-hop"):
        assert dropped not in arrived.headers, arrived.headers


def _next_event(lines: Iterator[str]) -> tuple[str, dict[str, Any]]:
    """The next ``event:``/``data:`` pair of a server-sent event stream."""
    event = ""
    for line in lines:
        if line.startswith("event: "):
            event = line[len("event: ") :]
        elif line.startswith("data: ") and event:
            return event, json.loads(line[len("data: ") :])
    raise AssertionError("the stream ended")


def _watch_then_post(watch_base: str, post_base: str, bin_: dict[str, Any]) -> dict[str, Any]:
    stream_url = f"{watch_base}/ui/bins/{bin_['id']}/stream"
    with httpx.stream("GET", stream_url, timeout=httpx.Timeout(10, read=10)) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        httpx.post(
            f"{post_base}/inbox/{bin_['id']}/live", content=b"<b>live</b>"
        ).raise_for_status()
        event, data = _next_event(stream.iter_lines())
    assert event == "request"
    return data


def test_live_stream_sends_each_new_request_rendered_and_escaped(admin: Admin) -> None:
    created = admin.create_bin()
    data = _watch_then_post(admin.base_url, admin.base_url, created)
    assert data["id"].startswith("req_")
    assert "&lt;b&gt;live&lt;/b&gt;" in data["html"] and "<b>live</b>" not in data["html"]


def test_live_stream_resumes_after_last_event_id(admin: Admin) -> None:
    created = admin.create_bin()
    first = httpx.post(created["url"], content=b"first").headers["x-tabhooks-request-id"]
    second = httpx.post(created["url"], content=b"second").headers["x-tabhooks-request-id"]
    stream_url = f"{admin.base_url}/ui/bins/{created['id']}/stream"
    headers = {"Last-Event-ID": first}
    with httpx.stream("GET", stream_url, headers=headers, timeout=httpx.Timeout(10)) as stream:
        event, data = _next_event(stream.iter_lines())
    assert (event, data["id"]) == ("request", second)


def test_live_stream_wakes_across_api_processes_on_postgres(
    backend: str,
    inbox_server: ServerProcess,
    admin: Admin,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    if backend != "postgres":
        pytest.skip("several API processes share one database only on PostgreSQL")
    workdir = tmp_path_factory.mktemp("second")
    second = ServerProcess(
        inbox_server.database_url, workdir, args=("--dev", "--no-dispatcher")
    ).start()
    try:
        created = admin.create_bin()
        data = _watch_then_post(admin.base_url, second.base_url, created)
        assert data["webhook_id"] is None and "live" in data["html"]
    finally:
        second.stop()


def test_dashboard_sign_in_and_csrf(inbox_server: ServerProcess, admin: Admin) -> None:
    base = inbox_server.base_url
    assert httpx.get(f"{base}/ui/webhooks").headers["location"] == "/ui/login?next=/ui/webhooks"
    rejected, answer = ui_login(base, password="wrong-password")
    rejected.close()
    assert answer.status_code == 401 and "Wrong user name, password or site." in answer.text
    assert "tabhooks_session" not in answer.cookies
    client, csrf = ui_client(base)
    try:
        webhook_id = admin.create_webhook(_name("csrf"), f"{base}/inbox/bin_nowhere")
        refused = client.post(f"/ui/webhooks/{webhook_id}/disable", data={"reason": "x"})
        assert refused.status_code == 403 and "Form refused" in refused.text
        forged = client.post(f"/ui/webhooks/{webhook_id}/disable", data={"csrf": "f" * 64})
        assert forged.status_code == 403
        login_forged = httpx.post(f"{base}/ui/login", data={"name": "admin", "password": "x"})
        assert login_forged.status_code == 403
        done = client.post(f"/ui/webhooks/{webhook_id}/disable", data={"csrf": csrf})
        assert done.status_code == 303
        webhook = httpx.get(
            f"{base}/api/3.28/sites/{admin.site_id}/webhooks/{webhook_id}", headers=admin.headers
        ).json()["webhook"]
        assert webhook["isEnabled"] is False
        charted = admin.create_bin()
        charted_id = admin.create_webhook(_name("charted"), charted["url"], "ViewDeleted")
        admin.fire("ViewDeleted", "Charted View")
        assert admin.settled(charted_id)["status"] == "succeeded"
        overview = client.get("/ui/webhooks")
        assert overview.status_code == 200 and 'class="bar succeeded"' in overview.text
        assert f"/ui/webhooks/{charted_id}" in overview.text
        story = client.get(f"/ui/webhooks/{charted_id}/deliveries")
        assert story.status_code == 200 and 'class="attempt ok"' in story.text
        page = client.get(f"/ui/webhooks/{webhook_id}")
        assert page.status_code == 200 and "Content-Security-Policy" in page.headers
        assert "script-src 'self'" in page.headers["content-security-policy"]
        signed_out = client.post("/ui/logout", data={"csrf": csrf})
        assert signed_out.status_code == 303
        assert client.get("/ui/webhooks").status_code == 303
    finally:
        client.close()


def test_bin_page_is_public_by_capability_and_errors_are_html(
    inbox_server: ServerProcess, admin: Admin
) -> None:
    created = admin.create_bin(name="<i>public</i>")
    page = httpx.get(created["ui_url"])
    assert page.status_code == 200 and "&lt;i&gt;public&lt;/i&gt;" in page.text
    assert "settings-form" not in page.text  # only a signed-in site user may change it
    missing = httpx.get(f"{inbox_server.base_url}/ui/bins/bin_unknown")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    css = httpx.get(f"{inbox_server.base_url}/ui/static/app.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


def test_bins_through_the_dashboard_forms(inbox_server: ServerProcess, admin: Admin) -> None:
    client, csrf = ui_client(inbox_server.base_url)
    try:
        created = client.post("/ui/bins", data={"csrf": csrf, "name": "from the form"})
        assert created.status_code == 303
        bin_id = created.headers["location"].rsplit("/", 1)[1]
        page = client.get(f"/ui/bins/{bin_id}")
        assert "settings-form" in page.text and "from the form" in page.text
        client.post(f"/inbox/{bin_id}", content=b"x").raise_for_status()
        (captured,) = admin.requests(bin_id)
        assert "cookie" not in {name for name, _ in captured["headers"]}  # scoped to /ui
        bad = client.post(
            f"/ui/bins/{bin_id}/settings", data={"csrf": csrf, "response_status": "abc"}
        )
        assert bad.status_code == 400 and "whole number" in bad.text
        saved = client.post(
            f"/ui/bins/{bin_id}/settings",
            data={
                "csrf": csrf,
                "name": "renamed",
                "response_status": "201",
                "response_headers": "X-One: 1\nX-Two: 2",
                "fail_next": "1",
                "max_age_hours": "2",
                "never_answer": "off",
            },
        )
        assert saved.status_code == 303
        bin_ = httpx.get(f"{admin.bins_url}/{bin_id}", headers=admin.headers).json()
        assert (bin_["name"], bin_["response_status"], bin_["fail_next"]) == ("renamed", 201, 1)
        assert bin_["response_headers"] == {"X-One": "1", "X-Two": "2"}
        assert bin_["max_age_s"] == 7200 and bin_["never_answer"] is False
        assert "renamed" in client.get("/ui/bins").text
        assert client.post(f"/ui/bins/{bin_id}/clear", data={"csrf": csrf}).status_code == 303
        assert admin.requests(bin_id) == []
        assert client.post(f"/ui/bins/{bin_id}/delete", data={"csrf": csrf}).status_code == 303
        assert client.get(f"/ui/bins/{bin_id}").status_code == 404
    finally:
        client.close()


def test_private_bin_pages_need_a_sign_in(tmp_path_factory: pytest.TempPathFactory) -> None:
    workdir = tmp_path_factory.mktemp("private")
    server = ServerProcess(
        f"sqlite:///{workdir / 'private.db'}", workdir, {"TABHOOKS_INBOX_PUBLIC_VIEW": "false"}
    ).start()
    try:
        admin = Admin(server.base_url)
        created = admin.create_bin()
        anonymous = httpx.get(created["ui_url"])
        assert anonymous.status_code == 303
        assert anonymous.headers["location"].startswith("/ui/login?next=/ui/bins/")
        stream = httpx.get(f"{created['ui_url']}/stream")
        assert stream.status_code == 303
        assert httpx.post(created["url"], content=b"still captured").status_code == 200
        client, _ = ui_client(server.base_url)
        try:
            assert client.get(f"/ui/bins/{created['id']}").status_code == 200
        finally:
            client.close()
    finally:
        server.stop()
