"""Relay deliveries in the dashboard: listed beside webhook deliveries, labelled with their
route and target type, filtered by route, and each with its page and whole attempt log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.acceptance.test_inbox import Admin
from tests.support.receiver import Receiver
from tests.ui.conftest import PageWatch, expect, sign_in

TEMPLATE = '{"alert": {{ event.title | tojson }}, "what": {{ event.resource_name | tojson }}}'


@pytest.fixture
def up() -> Iterator[Receiver]:
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def down() -> Iterator[Receiver]:
    receiver = Receiver(status=503, body=b"service unavailable").start()
    yield receiver
    receiver.stop()


def _route(admin: Admin, name: str, targets: list[dict[str, Any]]) -> dict[str, Any]:
    response = httpx.post(
        f"{admin.base_url}/tabhooks/v1/relays",
        json={"name": name, "targets": targets},
        headers=admin.headers,
    )
    assert response.status_code == 201, response.text
    return response.json()


def _relay(route: dict[str, Any], event: str, name: str) -> list[str]:
    payload = {"event_type": event, "resource": "DATASOURCE", "resource_name": name}
    response = httpx.post(route["inbound_url"], json=payload)
    assert response.status_code == 202, response.text
    return list(response.json()["delivery_ids"])


def test_relay_deliveries_are_listed_filtered_and_shown_with_every_attempt(
    watch: PageWatch, admin: Admin, up: Receiver, down: Receiver, screenshots: Path
) -> None:
    alerts = _route(
        admin,
        "refresh alerts",
        [
            {"type": "slack", "url": up.url},
            {"type": "http", "url": down.url, "template": TEMPLATE},
        ],
    )
    news = _route(admin, "workbook news", [{"type": "teams", "url": up.url}])
    bin_ = admin.create_bin(name="Relay neighbours")
    admin.create_webhook("plain-webhook", bin_["url"], "DatasourceRefreshFailed")
    slack_id, http_id = _relay(alerts, "DatasourceRefreshFailed", "Superstore")
    (teams_id,) = _relay(news, "WorkbookCreated", "Sales Book")
    admin.fire("DatasourceRefreshFailed", "Finance Extract")

    page = watch.page
    sign_in(page)
    page.click("header.top nav a:text('Deliveries')")
    expect(page.locator("h1")).to_contain_text("Deliveries")
    slack_row = page.locator(f"tr[data-delivery-id='{slack_id}']")
    expect(slack_row).to_have_attribute("data-source", "relay")
    expect(slack_row.locator(".sent-to")).to_have_text("relay refresh alerts · slack")
    expect(page.locator(f"tr[data-delivery-id='{http_id}'] .target")).to_have_text("http")
    expect(page.locator(f"tr[data-delivery-id='{teams_id}'] .sent-to")).to_contain_text(
        "workbook news · teams"
    )
    expect(page.locator("tr.delivery.webhook").first).to_contain_text("plain-webhook")

    page.select_option("#filter-route", label="refresh alerts")
    page.click("#filter-form button[type=submit]")
    expect(page.locator("tr.delivery")).to_have_count(2)
    expect(page.locator("tr.delivery .route")).to_have_text(["refresh alerts"] * 2)
    assert f"route={alerts['id']}" in page.url

    # The target that is down: retried on the schedule, then failed, every attempt shown.
    page.goto(f"/ui/deliveries/{http_id}")
    expect(page.locator("#delivery-source")).to_contain_text("refresh alerts")
    expect(page.locator("#delivery-source .target")).to_have_text("http")
    expect(page.locator("#delivery-body")).to_have_text(
        '{\n  "alert": "Datasource refresh failed",\n  "what": "Superstore"\n}'
    )
    delivery = page.locator("article.delivery")
    expect(delivery.locator(".badge.status-failed")).to_be_visible()
    expect(delivery.locator("li.attempt.fail")).to_have_count(4)
    expect(delivery.locator("li.attempt .code")).to_have_text(["503"] * 4)
    delivery.locator("li.attempt").first.locator("summary").click()
    expect(delivery.locator("li.attempt").first.locator("pre.excerpt")).to_have_text(
        "service unavailable"
    )
    page.screenshot(
        path=str(screenshots / "dashboard-relay-delivery.png"),
        full_page=True,
        animations="disabled",
    )

    # Redelivering a relay delivery comes back to its page, with a fifth attempt on the way.
    down.status = 200
    page.locator("form.redeliver button").click()
    expect(page.locator(".notice")).to_contain_text("Delivery queued again")
    assert page.url.split("?")[0].endswith(f"/ui/deliveries/{http_id}")
    expect(page.locator("article.delivery li.attempt.ok")).to_have_count(1)
    expect(page.locator("article.delivery li.attempt")).to_have_count(5)


def test_unknown_route_and_status_filters_are_error_pages(watch: PageWatch) -> None:
    page = watch.page
    sign_in(page)
    answer = page.goto("/ui/deliveries?route=rly_nope")
    assert answer is not None and answer.status == 404
    expect(page.locator(".problem .message")).to_contain_text("rly_nope")
    answer = page.goto("/ui/deliveries?status=lost")
    assert answer is not None and answer.status == 400
    answer = page.goto("/ui/deliveries/dlv_nope")
    assert answer is not None and answer.status == 404
