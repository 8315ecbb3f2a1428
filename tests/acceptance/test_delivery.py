"""The delivery engine end to end: payload bytes, headers, signatures, every retry rule,
auto-disable, redelivery and the operations API — real server, real local receivers."""

from __future__ import annotations

import json
import socket
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook as StandardWebhook

from tests.conftest import database_url_for
from tests.support.receiver import Receiver, Reply
from tests.support.server import ADMIN_PASSWORD, ADMIN_USERNAME, ServerProcess

NS = {"t": "http://tableau.com/api"}
FAST_RETRIES = {
    "TABHOOKS_DELIVERY_RETRY_SCHEDULE": "0.3s,0.3s,0.3s",
    "TABHOOKS_DELIVERY_OVERLOAD_FLOOR_S": "0",
    "TABHOOKS_DELIVERY_TIMEOUT_S": "1",
    "TABHOOKS_DELIVERY_CONNECT_TIMEOUT_S": "1",
    "TABHOOKS_DELIVERY_LEASE_S": "6",
    "TABHOOKS_DELIVERY_POLL_INTERVAL_S": "0.1",
}


class Client:
    """The admin of a running server, with the calls these tests need."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        response = httpx.post(
            f"{server.api()}/auth/signin",
            content=f'<tsRequest><credentials name="{ADMIN_USERNAME}" password="{ADMIN_PASSWORD}"><site contentUrl=""/></credentials></tsRequest>',
        )
        credentials = ET.fromstring(response.content).find("t:credentials", NS)
        self.token = credentials.get("token")
        self.site_id = credentials.find("t:site", NS).get("id")
        self.headers = {"X-Tableau-Auth": self.token, "Accept": "application/json"}
        self.ops = f"{server.base_url}/tabhooks/v1/sites/{self.site_id}"

    def create_webhook(self, name: str, url: str, event: str = "WorkbookCreated") -> str:
        body = (
            f'<tsRequest><webhook name="{name}" event="{event}"><webhook-destination>'
            f'<webhook-destination-http method="POST" url="{url}"/></webhook-destination>'
            "</webhook></tsRequest>"
        )
        response = httpx.post(
            f"{self.server.api()}/sites/{self.site_id}/webhooks", content=body, headers=self.headers
        )
        assert response.status_code == 201, response.text
        return response.json()["webhook"]["id"]

    def webhook(self, webhook_id: str) -> dict[str, Any]:
        response = httpx.get(
            f"{self.server.api()}/sites/{self.site_id}/webhooks/{webhook_id}", headers=self.headers
        )
        return response.json()["webhook"]

    def update_webhook(self, webhook_id: str, **attrs: object) -> dict[str, Any]:
        response = httpx.put(
            f"{self.server.api()}/sites/{self.site_id}/webhooks/{webhook_id}",
            json={"webhook": attrs},
            headers=self.headers,
        )
        assert response.status_code == 200, response.text
        return response.json()["webhook"]

    def fire(self, event: str = "WorkbookCreated", name: str = "Superstore") -> dict[str, Any]:
        response = httpx.post(
            f"{self.ops}/events", json={"event": event, "resource_name": name}, headers=self.headers
        )
        assert response.status_code == 201, response.text
        return response.json()

    def deliveries(self, **params: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.ops}/deliveries", params=params, headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json()["deliveries"]

    def delivery(self, delivery_id: str) -> dict[str, Any]:
        response = httpx.get(f"{self.ops}/deliveries/{delivery_id}", headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json()

    def settled(
        self, webhook_id: str, count: int = 1, timeout_s: float = 15.0
    ) -> list[dict[str, Any]]:
        """Wait until ``count`` deliveries of the webhook are succeeded or failed."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = self.deliveries(webhook_id=webhook_id)
            if len(found) >= count and all(d["status"] in ("succeeded", "failed") for d in found):
                return found
            time.sleep(0.05)
        raise AssertionError(f"deliveries did not settle: {self.deliveries(webhook_id=webhook_id)}")


@pytest.fixture(scope="module")
def fast_server(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory
) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("delivery")
    running = ServerProcess(
        database_url_for(backend, request, workdir), workdir, extra_env=FAST_RETRIES
    ).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(fast_server: ServerProcess) -> Client:
    return Client(fast_server)


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


_names = iter(range(10**6))


def _name(prefix: str) -> str:
    return f"{prefix}-{next(_names)}"


def test_payload_bytes_and_headers(client: Client, receiver: Receiver) -> None:
    webhook_id = client.create_webhook(_name("payload"), receiver.url)
    fired = client.fire("WorkbookCreated", "Sales Dashboard")
    (arrived,) = receiver.wait_for(1)
    payload = json.loads(arrived.body)
    assert payload == {
        "resource": "WORKBOOK",
        "event_type": "WorkbookCreated",
        "resource_name": "Sales Dashboard",
        "site_luid": client.site_id,
        "resource_luid": fired["resource_luid"],
        "created_at": payload["created_at"],
    }
    assert time.strptime(payload["created_at"], "%Y-%m-%dT%H:%M:%SZ")
    assert list(payload) == [
        "resource",
        "event_type",
        "resource_name",
        "site_luid",
        "resource_luid",
        "created_at",
    ]
    assert arrived.headers["content-type"] == "application/json"
    assert arrived.headers["user-agent"].startswith("tabhooks/")
    assert arrived.headers["webhook-id"].startswith("msg_")
    assert abs(int(arrived.headers["webhook-timestamp"]) - time.time()) < 60
    assert "webhook-signature" not in arrived.headers
    (delivery,) = client.settled(webhook_id)
    assert delivery["id"] == arrived.headers["webhook-id"]
    detail = client.delivery(delivery["id"])
    assert detail["status"] == "succeeded" and detail["attempts"] == 1
    assert detail["payload"] == payload
    (attempt,) = detail["attempt_log"]
    assert attempt["status_code"] == 200 and attempt["response_body"] == "ok"


def test_event_reaches_only_matching_enabled_webhooks(client: Client, receiver: Receiver) -> None:
    matching = client.create_webhook(_name("match"), receiver.url, "DatasourceRefreshFailed")
    other_event = client.create_webhook(_name("other"), receiver.url, "DatasourceCreated")
    disabled = client.create_webhook(_name("off"), receiver.url, "DatasourceRefreshFailed")
    client.update_webhook(disabled, isEnabled=False)
    fired = client.fire("DatasourceRefreshFailed", "Nightly Extract")
    assert fired["deliveries"] == 1
    (arrived,) = receiver.wait_for(1)
    assert json.loads(arrived.body)["resource"] == "EXTRACTS"
    assert client.deliveries(webhook_id=matching)
    assert not client.deliveries(webhook_id=other_event)
    assert not client.deliveries(webhook_id=disabled)


def test_signature_verifies_with_standardwebhooks_and_rotation_keeps_old_secret(
    client: Client, receiver: Receiver
) -> None:
    webhook_id = client.create_webhook(_name("signed"), receiver.url, "ViewDeleted")
    first = httpx.post(f"{client.ops}/webhooks/{webhook_id}/secret", headers=client.headers)
    assert first.status_code == 201
    old_secret = first.json()["current"]
    client.fire("ViewDeleted", "Overview")
    (arrived,) = receiver.wait_for(1)
    assert StandardWebhook(old_secret).verify(arrived.body, arrived.headers) is not None

    rotated = httpx.post(
        f"{client.ops}/webhooks/{webhook_id}/secret", headers=client.headers
    ).json()
    new_secret = rotated["current"]
    assert new_secret != old_secret and rotated["previous"][0]["secret"] == old_secret
    client.fire("ViewDeleted", "Overview 2")
    second = receiver.wait_for(2)[1]
    assert len(second.headers["webhook-signature"].split(" ")) == 2
    for secret in (old_secret, new_secret):
        assert StandardWebhook(secret).verify(second.body, second.headers) is not None

    test = httpx.get(
        f"{client.server.api()}/sites/{client.site_id}/webhooks/{webhook_id}/test",
        headers=client.headers,
    )
    assert test.status_code == 200
    third = receiver.wait_for(3)[2]
    assert StandardWebhook(new_secret).verify(third.body, third.headers) is not None


@pytest.mark.parametrize(
    ("failure", "error"),
    [
        (Reply(status=500, body=b"boom"), None),
        (Reply(status=429, headers={"Retry-After": "0"}), None),
        (Reply(delay_s=2.0), "timeout"),
        (Reply(reset=True), "reset"),
        (Reply(status=302, headers={"Location": "http://127.0.0.1:9/elsewhere"}), None),
    ],
    ids=["5xx", "429-retry-after", "timeout", "reset", "redirect-not-followed"],
)
def test_failure_then_success_is_retried_with_same_bytes_and_id(
    client: Client, receiver: Receiver, failure: Reply, error: str | None
) -> None:
    receiver.plan = [failure]
    webhook_id = client.create_webhook(_name("retry"), receiver.url, "WorkbookUpdated")
    client.fire("WorkbookUpdated", "Retry Me")
    first, second = receiver.wait_for(2, timeout_s=20)[:2]
    assert first.body == second.body
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    (delivery,) = client.settled(webhook_id)
    detail = client.delivery(delivery["id"])
    assert detail["status"] == "succeeded" and detail["attempts"] == 2
    failed, succeeded = detail["attempt_log"]
    assert succeeded["status_code"] == 200
    if error is None:
        assert failed["status_code"] == failure.status and failed["error"] is None
    else:
        assert failed["status_code"] is None and failed["error"] == error
    assert client.webhook(webhook_id)["isEnabled"] is True


def test_connection_refused_exhausts_retries_and_disables_then_reenable_resumes(
    client: Client, receiver: Receiver
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    webhook_id = client.create_webhook(
        _name("dead"), f"http://127.0.0.1:{dead_port}/hook", "WorkbookDeleted"
    )
    client.fire("WorkbookDeleted", "Gone Book")
    (delivery,) = client.settled(webhook_id, timeout_s=20)
    detail = client.delivery(delivery["id"])
    assert detail["status"] == "failed" and detail["attempts"] == 4  # Tableau: 1 try + 3 retries
    assert {a["error"] for a in detail["attempt_log"]} == {"connect_refused"}
    webhook = client.webhook(webhook_id)
    assert webhook["isEnabled"] is False
    assert "disabled automatically" in webhook["statusChangeReason"]

    assert client.fire("WorkbookDeleted", "While Disabled")["deliveries"] == 0
    httpx.put(
        f"{client.server.api()}/sites/{client.site_id}/webhooks/{webhook_id}",
        content=f'<tsRequest><webhook isEnabled="true"><webhook-destination><webhook-destination-http method="POST" url="{receiver.url}"/></webhook-destination></webhook></tsRequest>',
        headers=client.headers,
    ).raise_for_status()
    assert client.fire("WorkbookDeleted", "After Re-enable")["deliveries"] == 1
    (arrived,) = receiver.wait_for(1)
    assert json.loads(arrived.body)["resource_name"] == "After Re-enable"


def test_410_gone_stops_and_disables_at_once(client: Client, receiver: Receiver) -> None:
    receiver.status = 410
    webhook_id = client.create_webhook(_name("gone"), receiver.url, "SiteUpdated")
    client.fire("SiteUpdated", "Some Site")
    (delivery,) = client.settled(webhook_id)
    assert client.delivery(delivery["id"])["attempts"] == 1
    webhook = client.webhook(webhook_id)
    assert webhook["isEnabled"] is False and "410" in webhook["statusChangeReason"]


def test_redeliver_and_recover(client: Client, receiver: Receiver) -> None:
    receiver.status = 503
    webhook_id = client.create_webhook(_name("recover"), receiver.url, "AdminPromoted")
    client.update_webhook(webhook_id, name=_name("recover-renamed"))
    client.fire("AdminPromoted", "alice")
    (delivery,) = client.settled(webhook_id, timeout_s=20)
    assert delivery["status"] == "failed"
    client.update_webhook(webhook_id, isEnabled=True)
    receiver.status = 200
    since = delivery["created_at"]
    recovered = httpx.post(
        f"{client.ops}/deliveries/recover", json={"since": since}, headers=client.headers
    )
    assert recovered.status_code == 202 and recovered.json()["queued"] >= 1
    (delivery,) = client.settled(webhook_id)
    detail = client.delivery(delivery["id"])
    assert detail["status"] == "succeeded" and detail["attempts"] == 5
    redo = httpx.post(f"{client.ops}/deliveries/{delivery['id']}/redeliver", headers=client.headers)
    assert redo.status_code == 202
    deadline = time.monotonic() + 10
    while client.delivery(delivery["id"])["attempts"] < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.delivery(delivery["id"])["attempts"] == 6
    ids = {r.headers["webhook-id"] for r in receiver.requests}
    assert ids == {delivery["id"]}


def test_delivery_list_filters_and_metrics(client: Client, receiver: Receiver) -> None:
    webhook_id = client.create_webhook(_name("listed"), receiver.url, "LabelCreated")
    for i in range(3):
        client.fire("LabelCreated", f"label {i}")
    client.settled(webhook_id, count=3)
    assert len(client.deliveries(webhook_id=webhook_id, status="succeeded")) == 3
    assert client.deliveries(webhook_id=webhook_id, status="failed") == []
    page = httpx.get(
        f"{client.ops}/deliveries",
        params={"webhook_id": webhook_id, "limit": 2},
        headers=client.headers,
    ).json()
    assert len(page["deliveries"]) == 2 and page["next_before"]
    rest = client.deliveries(webhook_id=webhook_id, before=page["next_before"])
    assert len(rest) == 1
    metrics = httpx.get(f"{client.server.base_url}/metrics").text
    assert 'tabhooks_delivery_attempts_total{outcome="2xx"}' in metrics
    assert "tabhooks_delivery_queue_depth" in metrics
    assert "tabhooks_delivery_attempt_seconds_bucket" in metrics


def test_ops_api_errors_are_clean(client: Client) -> None:
    missing = httpx.get(f"{client.ops}/deliveries/msg_nothing", headers=client.headers)
    assert missing.status_code == 404
    unauthenticated = httpx.get(f"{client.ops}/deliveries")
    assert unauthenticated.status_code == 401
    bad_status = httpx.get(
        f"{client.ops}/deliveries", params={"status": "exploded"}, headers=client.headers
    )
    assert bad_status.status_code == 400
    bad_event = httpx.post(
        f"{client.ops}/events", json={"event": "Nope", "resource_name": "x"}, headers=client.headers
    )
    assert bad_event.status_code == 400 and bad_event.json()["error"]["code"] == "400140"
