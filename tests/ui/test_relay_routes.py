"""Relay routes in a real browser: create one with a template previewed for a sample event
(rendered by the relay's workers), see its deliveries, edit it without losing them."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx

from tests.acceptance.test_inbox import Admin
from tests.ui.conftest import PageWatch, expect, sign_in

TEMPLATE = "{{ event.title }} — {{ event.resource_name }} ({{ event.name }})"


def test_create_a_route_with_a_previewed_template_and_watch_its_deliveries(
    watch: PageWatch, admin: Admin, screenshots: Path
) -> None:
    slack = admin.create_bin(name="Slack stand-in for routes")
    page = watch.page
    sign_in(page)
    page.click("header.top nav a:text('Relays')")
    page.click("#new-route")
    page.fill("#relay-form input[name=name]", "ops alerts")
    page.check("#relay-form input[name='ev:WorkbookRefreshFailed']")
    page.check("#relay-form input[name='ev:DatasourceRefreshFailed']")
    target = page.locator("#target-0")
    target.locator("select[name='t0.type']").select_option("slack")
    target.locator("input[name='t0.url']").fill(slack["url"])
    target.locator("textarea[name='t0.template']").fill(TEMPLATE)

    # Preview: the message for a sample event, as Slack shows it; nothing saved or sent.
    page.select_option("#sample-event", "WorkbookRefreshFailed")
    page.click("#preview-button")
    preview = page.locator("#preview-0")
    expected = "Workbook refresh failed — Sample: Superstore (WorkbookRefreshFailed)"
    expect(preview.locator(".chat-preview.slack .chat-line").first).to_have_text(expected)
    body = json.loads(preview.locator(".preview-body").inner_text())
    assert body["text"] == expected
    expect(page.locator("#relay-form input[name=name]")).to_have_value("ops alerts")
    expect(page.locator("textarea[name='t0.template']")).to_have_value(TEMPLATE)
    expect(page.locator("input[name='ev:WorkbookRefreshFailed']")).to_be_checked()
    page.screenshot(
        path=str(screenshots / "relay-editor.png"), full_page=True, animations="disabled"
    )
    routes = httpx.get(f"{admin.base_url}/tabhooks/v1/relays", headers=admin.headers).json()
    assert [r["name"] for r in routes["relays"]] == []
    assert admin.requests(slack["id"]) == []

    # A template that does not compile: the reason, in the preview and when saving.
    page.locator("textarea[name='t0.template']").fill("{{ event.title ")
    page.click("#preview-button")
    expect(page.locator("#preview-0 .preview-error")).to_contain_text("template")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.click("#save-button")
    assert answer.value.status == 400
    expect(page.locator("p.error")).to_be_visible()

    page.locator("textarea[name='t0.template']").fill(TEMPLATE)
    page.click("#save-button")
    expect(page.locator(".notice")).to_contain_text("Relay route created")
    route_id = page.url.split("/ui/relays/")[1].split("?")[0]
    inbound = page.locator("#inbound-url").inner_text()
    assert inbound == f"{admin.base_url}/relay/{route_id}"
    saved = httpx.get(f"{admin.base_url}/tabhooks/v1/relays/{route_id}", headers=admin.headers)
    assert saved.json()["events"] == ["DatasourceRefreshFailed", "WorkbookRefreshFailed"]
    assert saved.json()["targets"][0]["template"] == TEMPLATE

    # Relayed events are its deliveries, listed on its page.
    payload = {"event_type": "DatasourceRefreshFailed", "resource_name": "Finance Extract"}
    assert httpx.post(inbound, json=payload).status_code == 202
    (sent,) = admin.wait_requests(slack["id"], 1)
    assert json.loads(sent["body"])["text"].startswith("Datasource refresh failed — Finance")
    _reload_until(page, "#route-deliveries tbody tr")
    row = page.locator("#route-deliveries tbody tr").first
    expect(row.locator(".target")).to_have_text("slack")
    expect(row).to_contain_text("Finance Extract")

    # Renaming keeps the targets, so their deliveries stay.
    page.click("#edit-route")
    page.fill("#relay-form input[name=name]", "ops alerts (finance)")
    page.click("#save-button")
    expect(page.locator(".notice")).to_have_text("Relay route saved.")
    expect(page.locator("h1")).to_contain_text("ops alerts (finance)")
    expect(page.locator("#route-deliveries tbody tr")).to_have_count(1)

    # Deleting asks first.
    watch.accept_dialogs = True
    page.click("#delete-route-form button")
    expect(page.locator(".notice")).to_have_text("Relay route deleted.")
    gone = httpx.get(f"{admin.base_url}/tabhooks/v1/relays/{route_id}", headers=admin.headers)
    assert gone.status_code == 404


def _reload_until(page: object, selector: str) -> None:
    """The route page is not live: reload until the delivery is listed."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        page.reload()  # type: ignore[attr-defined]
        if page.locator(selector).count():  # type: ignore[attr-defined]
            return
        time.sleep(0.2)
    raise AssertionError(f"{selector} never appeared")
