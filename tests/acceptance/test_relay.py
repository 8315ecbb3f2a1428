"""Relay end to end: a tabhooks event → a webhook → ``/relay/{id}`` → local receivers standing
in for Slack, Teams, IFTTT and a plain HTTP service; filters, retries, templates, the sandbox."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook as StandardWebhook

from tests.acceptance.test_delivery import FAST_RETRIES, Client
from tests.conftest import database_url_for
from tests.support.receiver import Receiver
from tests.support.server import ServerProcess


@pytest.fixture(scope="module")
def relay_server(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("relay")
    running = ServerProcess(
        database_url_for(backend, request, workdir), workdir, extra_env=FAST_RETRIES
    ).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(relay_server: ServerProcess) -> Client:
    return Client(relay_server)


@pytest.fixture
def receivers() -> Iterator[dict[str, Receiver]]:
    started = {name: Receiver().start() for name in ("slack", "teams", "ifttt", "http")}
    yield started
    for receiver in started.values():
        receiver.stop()


def _relays(client: Client) -> str:
    return f"{client.server.base_url}/tabhooks/v1/relays"


def create_route(client: Client, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(_relays(client), json=body, headers=client.headers)
    assert response.status_code == 201, response.text
    return response.json()


def wait_for(receiver: Receiver, count: int = 1, timeout_s: float = 10.0) -> list[Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if len(receiver.requests) >= count:
            return receiver.requests
        time.sleep(0.05)
    raise AssertionError(f"expected {count} requests, got {receiver.requests}")


def settled(client: Client, route_id: str, count: int, timeout_s: float = 15.0) -> list[Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = [d for d in client.deliveries(limit="500") if d["relay_route_id"] == route_id]
        if len(found) >= count and all(d["status"] in ("succeeded", "failed") for d in found):
            return found
        time.sleep(0.1)
    raise AssertionError(f"relay deliveries did not settle: {client.deliveries()}")


HTTP_TEMPLATE = (
    '{"alert": {{ event.title | tojson }}, "what": {{ event.resource_name | tojson }},'
    ' "kind": "{{ event.resource }}"}'
)


def test_event_reaches_every_target_in_its_documented_shape(
    client: Client, receivers: dict[str, Receiver]
) -> None:
    route = create_route(
        client,
        {
            "name": "refresh failures",
            "events": ["webhook-source-event-datasource-refresh-failed"],
            "targets": [
                {"type": "slack", "url": receivers["slack"].url},
                {"type": "teams", "url": receivers["teams"].url},
                {"type": "ifttt", "url": receivers["ifttt"].url},
                {
                    "type": "http",
                    "url": receivers["http"].url,
                    "method": "PUT",
                    "headers": {"X-Team": "data"},
                    "template": HTTP_TEMPLATE,
                },
            ],
        },
    )
    assert route["id"].startswith("rly_") and len(route["id"]) > 20
    assert route["inbound_url"].endswith(f"/relay/{route['id']}")
    # tabhooks' own webhook feeds the route, as a real Tableau site would.
    client.create_webhook("to-relay", route["inbound_url"], event="DatasourceRefreshFailed")
    client.fire("DatasourceRefreshFailed", name="Superstore")

    slack = json.loads(wait_for(receivers["slack"])[0].body)
    assert slack["text"] == "Datasource refresh failed: Superstore"
    assert slack["blocks"][0] == {
        "type": "section",
        "text": {"type": "mrkdwn", "text": "Datasource refresh failed: Superstore"},
    }
    fields = [f["text"] for f in slack["blocks"][1]["fields"]]
    assert fields[0] == "*Event*\nDatasourceRefreshFailed"
    assert fields[1] == "*Resource*\nSuperstore"
    assert fields[2] == f"*Site*\n{client.site_id}"
    assert fields[3].startswith("*Time*\n20")

    teams = json.loads(wait_for(receivers["teams"])[0].body)
    assert teams["type"] == "message"
    (attachment,) = teams["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    assert card["body"][0]["text"] == "Datasource refresh failed: Superstore"
    facts = {f["title"]: f["value"] for f in card["body"][1]["facts"]}
    assert facts["Event"] == "DatasourceRefreshFailed" and facts["Resource"] == "Superstore"

    ifttt = json.loads(wait_for(receivers["ifttt"])[0].body)
    assert set(ifttt) == {"value1", "value2", "value3"}
    assert ifttt["value1"] == "DatasourceRefreshFailed" and ifttt["value2"] == "Superstore"

    plain = wait_for(receivers["http"])[0]
    assert plain.method == "PUT" and plain.path == "/hook"
    assert plain.headers["x-team"] == "data"
    assert json.loads(plain.body) == {
        "alert": "Datasource refresh failed",
        "what": "Superstore",
        "kind": "EXTRACTS",
    }
    # Relayed messages are deliveries like any other: listed, with their attempt log.
    found = settled(client, route["id"], 4)
    assert {d["status"] for d in found} == {"succeeded"}
    assert all(d["webhook_id"] is None and d["webhook_name"] == "refresh failures" for d in found)
    detail = client.delivery(found[0]["id"])
    assert detail["attempt_log"][0]["status_code"] == 200 and detail["body"]


def test_filters_drop_non_matching_events(client: Client, receivers: dict[str, Receiver]) -> None:
    route = create_route(
        client,
        {
            "name": "sales workbooks",
            "events": ["WorkbookCreated"],
            "resource_glob": "Sales*",
            "targets": [{"type": "slack", "url": receivers["slack"].url}],
        },
    )
    url = route["inbound_url"]

    def post(event: str, name: str, site: str | None = None) -> dict[str, Any]:
        payload = {
            "resource": "WORKBOOK",
            "event_type": event,
            "resource_name": name,
            "site_luid": site or client.site_id,
            "resource_luid": "0f1e2d3c-0000-0000-0000-000000000000",
            "created_at": "2024-05-01T10:00:00Z",
        }
        response = httpx.post(url, json=payload)
        assert response.status_code == 202, response.text
        return response.json()

    assert post("WorkbookDeleted", "Sales Q1") == {
        "queued": 0,
        "filtered": True,
        "delivery_ids": [],
        "errors": {},
    }
    assert post("WorkbookCreated", "Finance")["filtered"] is True
    # The legacy spelling matches as well as the friendly one.
    assert post("webhook-source-event-workbook-created", "sales Q2")["queued"] == 1
    assert post("WorkbookCreated", "Sales Q3")["queued"] == 1
    requests = wait_for(receivers["slack"], 2)
    time.sleep(0.3)
    assert len(requests) == 2
    texts = sorted(json.loads(r.body)["text"] for r in requests)
    assert texts == ["Workbook created: Sales Q3", "Workbook created: sales Q2"]


def test_target_down_retries_then_fails_in_attempt_log(
    client: Client, receivers: dict[str, Receiver]
) -> None:
    receivers["http"].status = 503
    route = create_route(
        client,
        {"name": "down", "targets": [{"type": "http", "url": receivers["http"].url}]},
    )
    response = httpx.post(
        route["inbound_url"], json={"event_type": "WorkbookCreated", "resource_name": "W"}
    )
    assert response.status_code == 202 and response.json()["queued"] == 1
    (delivery,) = settled(client, route["id"], 1)
    assert delivery["status"] == "failed" and delivery["last_status"] == 503
    attempts = client.delivery(delivery["id"])["attempt_log"]
    assert [a["status_code"] for a in attempts] == [503, 503, 503, 503]
    assert len(receivers["http"].requests) == 4


def test_broken_template_is_rejected_when_saved(client: Client) -> None:
    body = {
        "name": "broken",
        "targets": [
            {"type": "http", "url": "http://127.0.0.1:9/x", "template": 'ok\n{{ "a" | nope }}'}
        ],
    }
    response = httpx.post(_relays(client), json=body, headers=client.headers)
    assert response.status_code == 400
    detail = response.json()["error"]["detail"]
    assert "line 2" in detail and "nope" in detail
    body["targets"][0]["template"] = "{% if %}"
    response = httpx.post(_relays(client), json=body, headers=client.headers)
    assert response.status_code == 400 and "line 1" in response.json()["error"]["detail"]


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ event['__class__'] }}",
        "{{ ''|attr('__class__') }}",
    ],
)
def test_sandbox_escape_is_refused_at_save(client: Client, template: str) -> None:
    body = {
        "name": "escape",
        "targets": [{"type": "http", "url": "http://127.0.0.1:9/x", "template": template}],
    }
    response = httpx.post(_relays(client), json=body, headers=client.headers)
    assert response.status_code == 400, response.text
    assert "not allowed" in response.json()["error"]["detail"]


def test_render_error_and_runtime_escape_fail_the_attempt_with_reason(
    client: Client, receivers: dict[str, Receiver]
) -> None:
    route = create_route(
        client,
        {
            "name": "render errors",
            "targets": [
                {"type": "http", "url": receivers["http"].url, "template": "{{ event.name / 0 }}"},
                {
                    "type": "http",
                    "url": receivers["http"].url,
                    "template": "{% set a = '_' ~ '_class__' %}{{ ''|attr(a) }}",
                },
            ],
        },
    )
    response = httpx.post(route["inbound_url"], json={"event_type": "WorkbookCreated"})
    assert response.status_code == 202
    result = response.json()
    assert result["queued"] == 0 and len(result["errors"]) == 2
    arithmetic, escape = (client.delivery(i) for i in result["delivery_ids"])
    assert arithmetic["status"] == "failed"
    assert arithmetic["attempt_log"][0]["error"] == "render"
    assert "TypeError" in arithmetic["attempt_log"][0]["detail"]
    assert "unsafe" in escape["attempt_log"][0]["detail"]
    assert receivers["http"].requests == []


def test_secret_header_and_bad_payloads(client: Client, receivers: dict[str, Receiver]) -> None:
    route = create_route(
        client,
        {
            "name": "secret",
            "secret": "s3cret",
            "targets": [{"type": "ifttt", "url": receivers["ifttt"].url}],
        },
    )
    payload = {"event_type": "WorkbookCreated", "resource_name": "W"}
    assert httpx.post(route["inbound_url"], json=payload).status_code == 401
    wrong = {"X-Tabhooks-Relay-Secret": "nope"}
    assert httpx.post(route["inbound_url"], json=payload, headers=wrong).status_code == 401
    right = {"X-Tabhooks-Relay-Secret": "s3cret"}
    assert httpx.post(route["inbound_url"], json=payload, headers=right).status_code == 202
    assert httpx.post(route["inbound_url"], json=[1], headers=right).status_code == 400
    assert httpx.post(route["inbound_url"], content=b"{", headers=right).status_code == 400
    assert httpx.post(f"{client.server.base_url}/relay/rly_nope", json=payload).status_code == 404


def test_manage_and_test_a_route(client: Client, receivers: dict[str, Receiver]) -> None:
    route = create_route(
        client,
        {"name": "managed", "targets": [{"type": "slack", "url": receivers["slack"].url}]},
    )
    url = f"{_relays(client)}/{route['id']}"
    listed = httpx.get(_relays(client), headers=client.headers).json()["relays"]
    assert route["id"] in [r["id"] for r in listed]
    response = httpx.put(
        url,
        json={"events": ["DatasourceRefreshFailed"], "targets": [
            {"type": "teams", "url": receivers["teams"].url, "template": "Oops: {{ event.resource_name }}"}
        ]},
        headers=client.headers,
    )  # fmt: skip
    assert response.status_code == 200, response.text
    assert [t["type"] for t in response.json()["targets"]] == ["teams"]
    assert response.json()["events"] == ["DatasourceRefreshFailed"]
    tested = httpx.post(
        f"{url}/test", json={"event": "DatasourceRefreshFailed"}, headers=client.headers
    )
    assert tested.status_code == 202 and tested.json()["queued"] == 1
    card = json.loads(wait_for(receivers["teams"])[0].body)["attachments"][0]["content"]
    assert card["body"][0]["text"] == "Oops: Sample: Superstore"
    assert httpx.delete(url, headers=client.headers).status_code == 204
    assert httpx.get(url, headers=client.headers).status_code == 404


def test_signed_route_signs_http_targets_only_and_verifies_with_standardwebhooks(
    client: Client, receivers: dict[str, Receiver]
) -> None:
    route = create_route(
        client,
        {
            "name": "signed",
            "sign": True,
            "targets": [
                {"type": "http", "url": receivers["http"].url, "template": HTTP_TEMPLATE},
                {"type": "slack", "url": receivers["slack"].url},
            ],
        },
    )
    secret = route["signing_secret"]
    assert route["signed"] is True and secret.startswith("whsec_")
    url = f"{_relays(client)}/{route['id']}"
    shown_later = httpx.get(url, headers=client.headers).json()
    assert shown_later["signed"] is True and shown_later["signing_secret"] is None

    payload = {"event_type": "WorkbookCreated", "resource": "WORKBOOK", "resource_name": "Q3"}
    assert httpx.post(route["inbound_url"], json=payload).json()["queued"] == 2
    (signed,) = wait_for(receivers["http"])
    verified = StandardWebhook(secret).verify(signed.body, signed.headers)
    assert verified == {"alert": "Workbook created", "what": "Q3", "kind": "WORKBOOK"}
    assert signed.headers["webhook-signature"].startswith("v1,")
    (slack,) = wait_for(receivers["slack"])
    assert "webhook-signature" not in slack.headers and "webhook-id" in slack.headers
    # The delivery id is the webhook-id, the same on every retry and in the delivery log.
    assert signed.headers["webhook-id"] in [d["id"] for d in settled(client, route["id"], 2)]

    own = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    changed = httpx.put(url, json={"signing_secret": own}, headers=client.headers).json()
    assert changed["signing_secret"] == own
    httpx.post(route["inbound_url"], json=payload)
    second = wait_for(receivers["http"], 2)[1]
    StandardWebhook(own).verify(second.body, second.headers)
    off = httpx.put(url, json={"sign": False}, headers=client.headers).json()
    assert off["signed"] is False and off["signing_secret"] is None
    httpx.post(route["inbound_url"], json=payload)
    assert "webhook-signature" not in wait_for(receivers["http"], 3)[2].headers

    bad = httpx.put(url, json={"signing_secret": "whsec_***"}, headers=client.headers)
    assert bad.status_code == 400 and "whsec_" in bad.json()["error"]["detail"]


def test_relay_role_serves_only_the_inbound_route(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    relay_only = ServerProcess(
        database_url_for(backend, request, tmp_path),
        tmp_path,
        extra_env={"TABHOOKS_ROLES": "relay"},
    ).start()
    try:
        payload = {"event_type": "WorkbookCreated"}
        missing = httpx.post(f"{relay_only.base_url}/relay/rly_unknown", json=payload)
        assert missing.status_code == 404 and "rly_unknown" in missing.text
        assert httpx.get(f"{relay_only.api()}/serverinfo").status_code == 404
        assert httpx.get(f"{relay_only.base_url}/tabhooks/v1/relays").status_code == 404
    finally:
        relay_only.stop()
