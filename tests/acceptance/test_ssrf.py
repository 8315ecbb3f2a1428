"""One SSRF table for every outgoing path: whatever a user makes the server send — a delivery,
Test Webhook, an inbox replay, a relay target, a relay route's enrichment lookup — it never
connects to an address the destination policy blocks: not by IP literal (in any spelling), not
by a name that resolves inward, not by a redirect from an allowed receiver.

The server runs as in production (no ``--dev``), with http allowed and exactly one loopback
address, 127.0.0.2, allowed as "internal but permitted" (TABHOOKS_ALLOWED_DESTINATION_CIDRS):
the allowed receiver listens there. Sentinels listen on 127.0.0.1 and ::1 — blocked
addresses — and count every connection they accept; each case asserts they accepted none.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest

from tests.acceptance.test_delivery import FAST_RETRIES, Client
from tests.support import databases
from tests.support.listeners import CountingListener
from tests.support.server import ServerProcess

ALLOWED_HOST = "127.0.0.2"

# ------------------------------------------------------------------ listeners


@dataclass
class Allowed:
    """The allowed receiver on 127.0.0.2.

    ``/r/<base64 Location>/...`` answers ``302 Location: <Location>`` to any method; every
    other path answers 200 and is recorded (relayed messages land on ``/inbox``).
    """

    received: list[tuple[str, bytes]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> Allowed:
        allowed = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = self.path.split("/")
                if len(parts) > 2 and parts[1] == "r":
                    self.send_response(302)
                    self.send_header("Location", base64.urlsafe_b64decode(parts[2]).decode())
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                allowed.received.append((self.path, body))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer((ALLOWED_HOST, 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    @property
    def base(self) -> str:
        assert self._server is not None
        return f"http://{ALLOWED_HOST}:{self._server.server_address[1]}"

    def redirecting_to(self, location: str) -> str:
        """A URL on the allowed receiver that redirects (every path below it) to ``location``."""
        return f"{self.base}/r/{base64.urlsafe_b64encode(location.encode()).decode()}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


# ------------------------------------------------------------------ the blocked destinations


def _inward_name_from_hosts_file() -> str | None:
    """A name from /etc/hosts, other than localhost, that resolves only to loopback."""
    try:
        lines = Path("/etc/hosts").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split("#", 1)[0].split()
        for name in fields[1:]:
            if "localhost" in name or not name.replace("-", "").replace(".", "").isalnum():
                continue
            try:
                answers = {a[4][0] for a in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)}
            except OSError:
                continue
            if answers and all(ipaddress.ip_address(a).is_loopback for a in answers):
                return name
    return None


INWARD_NAME = _inward_name_from_hosts_file()


@dataclass(frozen=True)
class Blocked:
    """One blocked destination: its URL (``{v4}``/``{v6}``: the sentinels' ports) and the words
    the guard's reason contains. ``by_name``: only resolving the host reveals it is inward, so
    nothing can refuse it when it is saved."""

    url: str
    reason: str
    by_name: bool = False


CLASSES: dict[str, Blocked] = {
    "loopback-v4": Blocked("http://127.0.0.1:{v4}/x", "loopback address"),
    "loopback-v6": Blocked("http://[::1]:{v6}/x", "loopback address"),
    "unspecified": Blocked("http://0.0.0.0:{v4}/x", "unspecified address"),
    "ipv4-mapped": Blocked("http://[::ffff:127.0.0.1]:{v4}/x", "loopback address embedded"),
    "private": Blocked("http://10.0.0.1:{v4}/x", "private address"),
    "link-local": Blocked("http://169.254.0.1:{v4}/x", "link-local address"),
    "metadata": Blocked("http://169.254.169.254/latest/meta-data/", "link-local address"),
    "decimal": Blocked("http://2130706433:{v4}/x", "not a canonical IP address"),
    "octal": Blocked("http://0177.0.0.1:{v4}/x", "not a canonical IP address"),
    "hex": Blocked("http://0x7f.1:{v4}/x", "not a canonical IP address"),
    "localhost": Blocked("http://localhost:{v4}/x", "loopback name"),
    "hosts-file-name": Blocked(
        f"http://{INWARD_NAME or 'unavailable'}:{{v4}}/x", "resolves to", by_name=True
    ),
}

PATHS = ("delivery", "test-webhook", "inbox-replay", "relay-target", "relay-enrichment")


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def sentinels() -> Iterator[dict[str, CountingListener]]:
    """Blocked addresses' listeners: they answer 200, so a leak would "work"."""
    started = {"v4": CountingListener("127.0.0.1").start(), "v6": CountingListener("::1").start()}
    yield started
    for sentinel in started.values():
        sentinel.stop()


@pytest.fixture(scope="module")
def allowed() -> Iterator[Allowed]:
    running = Allowed().start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("ssrf")
    env = {
        **FAST_RETRIES,
        "TABHOOKS_ALLOW_HTTP_DESTINATIONS": "true",
        "TABHOOKS_ALLOWED_DESTINATION_CIDRS": f"{ALLOWED_HOST}/32",
        "TABHOOKS_RELAY_ENRICH_TIMEOUT_S": "3",
    }
    running = ServerProcess(databases.new_sqlite_url(workdir), workdir, env, args=()).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Client:
    return Client(server)


# ------------------------------------------------------------------ one way out per path

Kind = Literal["refused", "blocked", "answered"]


@dataclass(frozen=True)
class Outcome:
    """What the server did with the destination.

    ``refused``: not saved (400141); ``blocked``: saved or asked, and the guard stopped the
    request; ``answered``: the allowed receiver's answer is what came back.
    """

    kind: Kind
    detail: str = ""
    status: int | None = None


def _settled_attempt(client: Client, delivery_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        detail = client.delivery(delivery_id)
        if detail["attempt_log"]:
            return dict(detail["attempt_log"][0])
        time.sleep(0.05)
    raise AssertionError(f"delivery {delivery_id} was never attempted")


def _attempt_outcome(attempt: dict[str, Any]) -> Outcome:
    if attempt["error"] == "blocked":
        return Outcome("blocked", attempt["detail"] or "")
    assert attempt["error"] is None, attempt
    return Outcome("answered", status=attempt["status_code"])


def _save_webhook(client: Client, url: str) -> tuple[str | None, Outcome | None]:
    body = (
        f'<tsRequest><webhook name="ssrf-{time.monotonic_ns()}" event="WorkbookCreated">'
        f'<webhook-destination><webhook-destination-http method="POST" url="{url}"/>'
        "</webhook-destination></webhook></tsRequest>"
    )
    response = httpx.post(
        f"{client.server.api()}/sites/{client.site_id}/webhooks", content=body,
        headers=client.headers,
    )  # fmt: skip
    if response.status_code == 400:
        error = response.json()["error"]
        assert error["code"] == "400141", error
        return None, Outcome("refused", error["detail"])
    assert response.status_code == 201, response.text
    return str(response.json()["webhook"]["id"]), None


def _delete_webhook(client: Client, webhook_id: str) -> None:
    httpx.delete(
        f"{client.server.api()}/sites/{client.site_id}/webhooks/{webhook_id}",
        headers=client.headers,
    ).raise_for_status()


def via_delivery(client: Client, url: str, _: Allowed) -> Outcome:
    webhook_id, refused = _save_webhook(client, url)
    if refused is not None:
        return refused
    assert webhook_id is not None
    try:
        client.fire("WorkbookCreated", "ssrf")
        deadline = time.monotonic() + 15
        while not (found := client.deliveries(webhook_id=webhook_id)):
            assert time.monotonic() < deadline, "no delivery was queued"
            time.sleep(0.05)
        return _attempt_outcome(_settled_attempt(client, found[0]["id"]))
    finally:
        _delete_webhook(client, webhook_id)


def via_test_webhook(client: Client, url: str, _: Allowed) -> Outcome:
    webhook_id, refused = _save_webhook(client, url)
    if refused is not None:
        return refused
    assert webhook_id is not None
    try:
        response = httpx.get(
            f"{client.server.api()}/sites/{client.site_id}/webhooks/{webhook_id}/test",
            headers=client.headers, timeout=30,
        )  # fmt: skip
        assert response.status_code == 200, response.text
        result = response.json()["webhookTestResult"]
        body = result["body"] if isinstance(result["body"], str) else json.dumps(result["body"])
        if int(result["status"]) == 403 and "blocked" in body:
            return Outcome("blocked", body)
        return Outcome("answered", status=int(result["status"]))
    finally:
        _delete_webhook(client, webhook_id)


def via_inbox_replay(client: Client, url: str, _: Allowed) -> Outcome:
    bins = f"{client.server.base_url}/tabhooks/v1/inbox/bins"
    created = httpx.post(bins, json={}, headers=client.headers)
    assert created.status_code == 201, created.text
    bin_id = created.json()["id"]
    captured = httpx.post(f"{client.server.base_url}/inbox/{bin_id}", json={"a": 1})
    assert captured.status_code < 300, captured.text
    (stored,) = httpx.get(f"{bins}/{bin_id}/requests", headers=client.headers).json()["requests"]
    replayed = httpx.post(
        f"{bins}/{bin_id}/requests/{stored['id']}/replay", json={"url": url},
        headers=client.headers, timeout=30,
    )  # fmt: skip
    assert replayed.status_code == 200, replayed.text
    result = replayed.json()
    if result["error"] == "blocked":
        return Outcome("blocked", result["detail"])
    assert result["error"] is None, result
    return Outcome("answered", status=result["status"])


def _save_route(
    client: Client, body: dict[str, Any]
) -> tuple[dict[str, Any] | None, Outcome | None]:
    response = httpx.post(
        f"{client.server.base_url}/tabhooks/v1/relays", json=body, headers=client.headers
    )
    if response.status_code == 400:
        error = response.json()["error"]
        assert error["code"] == "400141", error
        return None, Outcome("refused", error["detail"])
    assert response.status_code == 201, response.text
    return response.json(), None


PAYLOAD = {
    "resource": "EXTRACTS",
    "event_type": "DatasourceRefreshFailed",
    "resource_name": "Sales",
    "site_luid": "8b2c1d0e-0000-0000-0000-000000000001",
    "resource_luid": "8b2c1d0e-0000-0000-0000-000000000002",
    "created_at": "2024-05-01T10:00:00Z",
}


def via_relay_target(client: Client, url: str, _: Allowed) -> Outcome:
    route, refused = _save_route(
        client, {"name": f"ssrf-{time.monotonic_ns()}", "targets": [{"type": "http", "url": url}]}
    )
    if refused is not None:
        return refused
    assert route is not None
    inbound = httpx.post(route["inbound_url"], json=PAYLOAD, timeout=30)
    assert inbound.status_code == 202, inbound.text
    (delivery_id,) = inbound.json()["delivery_ids"]
    return _attempt_outcome(_settled_attempt(client, delivery_id))


def via_relay_enrichment(client: Client, url: str, allowed: Allowed) -> Outcome:
    server = url.removesuffix("/x")
    route, refused = _save_route(
        client,
        {
            "name": f"ssrf-{time.monotonic_ns()}",
            "enrich_with": {"server": server, "pat_name": "n", "pat_secret": "s"},
            "targets": [
                {
                    "type": "http",
                    "url": f"{allowed.base}/inbox",
                    "template": "{{ enrichment | tojson }}",
                }
            ],
        },
    )
    if refused is not None:
        return refused
    assert route is not None
    before = len(allowed.received)
    inbound = httpx.post(route["inbound_url"], json=PAYLOAD, timeout=30)
    assert inbound.status_code == 202, inbound.text
    deadline = time.monotonic() + 15
    while len(allowed.received) <= before:
        assert time.monotonic() < deadline, "the relayed message never arrived"
        time.sleep(0.05)
    enrichment = json.loads(allowed.received[before][1])
    assert "project" not in enrichment, enrichment
    assert enrichment["error"].startswith(f"{server} was not contacted: "), enrichment
    return Outcome("blocked", enrichment["error"])


VIA: dict[str, Callable[[Client, str, Allowed], Outcome]] = {
    "delivery": via_delivery,
    "test-webhook": via_test_webhook,
    "inbox-replay": via_inbox_replay,
    "relay-target": via_relay_target,
    "relay-enrichment": via_relay_enrichment,
}


# ------------------------------------------------------------------ the table


def _target(blocked: Blocked, sentinels: dict[str, CountingListener]) -> str:
    if blocked.by_name and INWARD_NAME is None:
        pytest.skip("no name in /etc/hosts resolves only to loopback on this machine")
    return blocked.url.format(v4=sentinels["v4"].port, v6=sentinels["v6"].port)


def _connections(sentinels: dict[str, CountingListener]) -> dict[str, int]:
    return {name: sentinel.connections for name, sentinel in sentinels.items()}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("address_class", list(CLASSES))
def test_a_blocked_destination_is_never_connected(
    client: Client,
    sentinels: dict[str, CountingListener],
    allowed: Allowed,
    path: str,
    address_class: str,
) -> None:
    blocked = CLASSES[address_class]
    url = _target(blocked, sentinels)
    before = _connections(sentinels)
    outcome = VIA[path](client, url, allowed)
    # Saved destinations are judged when saved unless only DNS can tell; replay saves nothing.
    can_refuse_when_saved = path != "inbox-replay" and not blocked.by_name
    assert outcome.kind == ("refused" if can_refuse_when_saved else "blocked"), outcome
    assert blocked.reason in outcome.detail, outcome
    time.sleep(0.05)  # a connection that leaked would be counted by now
    assert _connections(sentinels) == before


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("address_class", list(CLASSES))
def test_a_redirect_from_an_allowed_receiver_to_a_blocked_destination_is_not_followed(
    client: Client,
    sentinels: dict[str, CountingListener],
    allowed: Allowed,
    path: str,
    address_class: str,
) -> None:
    blocked = CLASSES[address_class]
    location = _target(blocked, sentinels)
    before = _connections(sentinels)
    outcome = VIA[path](client, allowed.redirecting_to(location), allowed)
    if path == "relay-enrichment":
        # The one client that follows redirects checks each one before following it.
        assert outcome.kind == "blocked", outcome
        assert blocked.reason in outcome.detail, outcome
    else:
        # Deliveries (and what shares their sender) never follow: the 3xx is the answer.
        assert outcome == Outcome("answered", status=302)
    time.sleep(0.05)
    assert _connections(sentinels) == before


def test_the_allowed_receiver_is_reachable_on_every_path(
    client: Client, sentinels: dict[str, CountingListener], allowed: Allowed
) -> None:
    """The control: the same paths reach 127.0.0.2, so the refusals above are the guard's."""
    for path in ("delivery", "test-webhook", "inbox-replay", "relay-target"):
        assert VIA[path](client, f"{allowed.base}/ok", allowed) == Outcome("answered", status=200)
    route, refused = _save_route(
        client,
        {
            "name": "ssrf-control",
            "enrich_with": {"server": allowed.base, "pat_name": "n", "pat_secret": "s"},
            "targets": [{"type": "http", "url": f"{allowed.base}/inbox",
                         "template": "{{ enrichment | tojson }}"}],
        },
    )  # fmt: skip
    assert refused is None and route is not None
    asked = len(allowed.received)
    assert httpx.post(route["inbound_url"], json=PAYLOAD, timeout=30).status_code == 202
    deadline = time.monotonic() + 15
    while not any(p.startswith("/api/") for p, _ in allowed.received[asked:]):
        assert time.monotonic() < deadline, "the enrichment server was never asked"
        time.sleep(0.05)
    assert _connections(sentinels) == {"v4": 0, "v6": 0}
