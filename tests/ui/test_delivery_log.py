"""The delivery log in a real browser: filters, each row opening its delivery, the delivery's
request and response headers, its body with Copy, and Slack and Teams messages previewed."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx

from tests.acceptance.test_inbox import Admin
from tests.support.server import ServerProcess
from tests.ui.conftest import PageWatch, allow_clipboard, expect, sign_in

WAIT_S = 20.0


def _wait_status(admin: Admin, webhook_id: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        found = httpx.get(
            f"{admin.ops}/deliveries", params={"webhook_id": webhook_id}, headers=admin.headers
        ).json()["deliveries"]
        if found and found[0]["status"] == status:
            return dict(found[0])
        time.sleep(0.1)
    raise AssertionError(f"no {status} delivery for {webhook_id}")


def _filter(page: Any, **chosen: str) -> None:
    """Set every filter (unnamed ones to "Any") and submit."""
    for name in ("webhook", "route", "event", "status", "period"):
        page.select_option(f"#filter-{name}", chosen.get(name, ""))
    page.click("#filter-form button[type=submit]")


def test_filters_narrow_the_log_and_each_row_opens_its_delivery(
    watch: PageWatch, admin: Admin, ui_server: ServerProcess
) -> None:
    ok_bin = admin.create_bin(name="Log receiver")
    bad_bin = admin.create_bin(name="Log failing receiver", response_status=500)
    alpha = admin.create_webhook("log-alpha", ok_bin["url"], "WorkbookCreated")
    beta = admin.create_webhook("log-beta", bad_bin["url"], "DatasourceCreated")
    admin.fire("WorkbookCreated", "Alpha One")
    admin.fire("WorkbookCreated", "Alpha Two")
    admin.fire("DatasourceCreated", "Beta One")
    _wait_status(admin, alpha, "succeeded")
    failed = _wait_status(admin, beta, "failed")

    page = watch.page
    allow_clipboard(watch, ui_server.base_url)
    sign_in(page)
    page.goto("/ui/deliveries")
    _filter(page, webhook=alpha)
    assert f"webhook={alpha}" in page.url
    expect(page.locator("tr.delivery")).to_have_count(2)
    expect(page.locator("tr.delivery td[data-label=Resource]")).to_have_text(
        ["Alpha Two", "Alpha One"]
    )
    _filter(page, webhook=alpha, event="WorkbookCreated", period="1h")
    expect(page.locator("tr.delivery")).to_have_count(2)
    _filter(page, webhook=alpha, status="failed")
    expect(page.locator(".empty")).to_contain_text("match these filters")
    _filter(page, event="DatasourceCreated", status="failed", period="24h")
    row = page.locator(f"tr[data-delivery-id='{failed['id']}']")
    expect(page.locator("tr.delivery")).to_have_count(1)
    expect(row.locator(".sent-to")).to_contain_text("log-beta")
    page.click("#clear-filters")
    expect(page.locator("#filter-event")).to_have_value("")

    # Each row opens its delivery: the request as sent, every attempt's answer, the body.
    page.goto(f"/ui/deliveries?webhook={beta}")
    page.locator(f"tr[data-delivery-id='{failed['id']}'] a.open").click()
    expect(page.locator("#delivery-status")).to_have_text("failed")
    expect(page.locator("#delivery-url")).to_have_text(bad_bin["url"])
    headers = page.locator("#request-headers")
    expect(headers.locator("tr", has_text="webhook-id")).to_contain_text(failed["id"])
    expect(headers.locator("tr", has_text="Content-Type")).to_contain_text("application/json")
    expect(headers.locator("tr", has_text="webhook-timestamp")).to_contain_text("latest attempt")
    expect(headers).not_to_contain_text("webhook-signature")  # the webhook has no secret
    attempts = page.locator("article.delivery li.attempt")
    expect(attempts).to_have_count(4)
    attempts.first.locator("summary").click()
    expect(attempts.first.locator("table.response-headers tr").first).to_be_visible()
    expect(attempts.first.locator(".code")).to_have_text("500")

    (captured, *_) = admin.wait_requests(bad_bin["id"], 4)
    body = page.locator("#delivery-body").inner_text()
    assert json.loads(body) == json.loads(captured["body"])
    assert "\n  " in body  # indented for reading
    page.click("#copy-body")
    expect(page.locator("#copy-body")).to_have_text("Copied")
    assert json.loads(watch.clipboard()) == json.loads(captured["body"])


def test_slack_and_teams_deliveries_show_the_message_as_the_app_would(
    watch: PageWatch, admin: Admin, ui_server: ServerProcess, screenshots: Path
) -> None:
    receiver = admin.create_bin(name="Chat stand-in")
    route = httpx.post(
        f"{admin.base_url}/tabhooks/v1/relays",
        json={
            "name": "chat alerts",
            "targets": [
                {"type": "slack", "url": receiver["url"]},
                {"type": "teams", "url": receiver["url"]},
            ],
        },
        headers=admin.headers,
    ).json()
    payload = {
        "event_type": "DatasourceRefreshFailed",
        "resource": "DATASOURCE",
        "resource_name": "Superstore",
        "site_luid": admin.site_id,
        "resource_luid": "5f0c3e9a-0000-4000-8000-00000000cafe",
        "created_at": "2026-05-01T09:30:00Z",
    }
    relayed = httpx.post(route["inbound_url"], json=payload)
    assert relayed.status_code == 202, relayed.text
    slack_id, teams_id = relayed.json()["delivery_ids"]
    admin.wait_requests(receiver["id"], 2)
    link = f"{ui_server.base_url}/ui/content/datasources/{payload['resource_luid']}"

    page = watch.page
    sign_in(page)
    page.goto(f"/ui/deliveries/{slack_id}")
    slack = page.locator(".chat-preview.slack")
    expect(slack.locator(".chat-line").first).to_have_text("Datasource refresh failed: Superstore")
    expect(slack.locator(".chat-fields div", has_text="Event")).to_contain_text(
        "DatasourceRefreshFailed"
    )
    expect(slack.locator(".chat-fields div", has_text="Time")).to_contain_text(
        "2026-05-01T09:30:00Z"
    )
    expect(slack.locator("a", has_text="Open")).to_have_attribute("href", link)
    expect(page.locator("#request-headers")).to_contain_text("webhook-id")
    page.screenshot(path=str(screenshots / "delivery.png"), full_page=True, animations="disabled")

    page.goto(f"/ui/deliveries/{teams_id}")
    teams = page.locator(".chat-preview.teams")
    expect(teams.locator(".chat-line strong")).to_have_text("Datasource refresh failed: Superstore")
    expect(teams.locator(".chat-fields div", has_text="Resource")).to_contain_text("Superstore")
    expect(teams.locator("a.chat-button")).to_have_attribute("href", link)


def test_a_body_cannot_put_a_script_link_in_the_preview(watch: PageWatch, admin: Admin) -> None:
    """A Slack target's template decides the text: markup in it stays text, and a link that
    is not http(s) is shown without being a link."""
    receiver = admin.create_bin(name="Hostile chat")
    template = "<javascript:alert(1)|click> <b>bold?</b> *really bold*"
    route = httpx.post(
        f"{admin.base_url}/tabhooks/v1/relays",
        json={
            "name": "hostile text",
            "targets": [{"type": "slack", "url": receiver["url"], "template": template}],
        },
        headers=admin.headers,
    ).json()
    relayed = httpx.post(
        route["inbound_url"], json={"event_type": "WorkbookCreated", "resource_name": "X"}
    )
    (delivery_id,) = relayed.json()["delivery_ids"]
    page = watch.page
    sign_in(page)
    page.goto(f"/ui/deliveries/{delivery_id}")
    line = page.locator(".chat-preview.slack .chat-line").first
    expect(line).to_contain_text("click <b>bold?</b> really bold")
    expect(line.locator("a")).to_have_count(0)
    expect(line.locator("strong")).to_have_text("really bold")
    expect(page.locator(".chat-preview b")).to_have_count(0)


def test_unknown_filter_values_are_error_pages(watch: PageWatch) -> None:
    page = watch.page
    sign_in(page)
    for query, status in (
        ("event=NoSuchEvent", 400),
        ("period=2y", 400),
        ("webhook=00000000-0000-0000-0000-000000000000", 404),
    ):
        answer = page.goto(f"/ui/deliveries?{query}")
        assert answer is not None and answer.status == status, query
        expect(page.locator(".problem")).to_be_visible()


def test_older_pages_back_through_a_filtered_log(watch: PageWatch, admin: Admin) -> None:
    """Past a page, "Older deliveries" keeps the filters and the page size and continues where
    the page ended, so every delivery of a busy webhook is reachable."""
    receiver = admin.create_bin(name="Busy receiver")
    busy = admin.create_webhook("log-busy", receiver["url"], "ViewDeleted")
    for number in range(5):
        admin.fire("ViewDeleted", f"View {number}")
    page = watch.page
    sign_in(page)
    page.goto(f"/ui/deliveries?webhook={busy}&limit=2")
    resources = page.locator("tr.delivery td[data-label=Resource]")
    expect(resources).to_have_text(["View 4", "View 3"])
    page.click("#older")
    assert f"webhook={busy}" in page.url and "limit=2" in page.url and "before=" in page.url
    expect(resources).to_have_text(["View 2", "View 1"])
    page.click("#older")
    expect(resources).to_have_text(["View 0"])
    expect(page.locator("#older")).to_have_count(0)
    answer = page.goto("/ui/deliveries?limit=1000")
    assert answer is not None and answer.status == 400
