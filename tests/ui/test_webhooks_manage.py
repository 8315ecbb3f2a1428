"""Managing webhooks from the dashboard: create, edit, rotate, fire and delete in a real
browser, each checked through the REST API; and the list's health at a glance.

The server of this module retries a failed delivery once after 0.2 s and then waits ten
minutes, so a failing receiver leaves a delivery waiting for its retry for the whole test.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tabhooks.delivery import signing
from tests.acceptance.test_inbox import FAST_RETRIES, Admin
from tests.conftest import database_url_for
from tests.support.server import ServerProcess
from tests.ui.conftest import PageWatch, allow_clipboard, expect, sign_in

WAIT_S = 20.0


@pytest.fixture(scope="module")
def ui_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("ui-manage")
    env = {**FAST_RETRIES, "TABHOOKS_DELIVERY_RETRY_SCHEDULE": "0.2s,600s"}
    running = ServerProcess(database_url_for("sqlite", request, workdir), workdir, env)
    running.start()
    yield running
    running.stop()


def _webhook(admin: Admin, webhook_id: str) -> httpx.Response:
    return httpx.get(
        f"{admin.base_url}/api/3.28/sites/{admin.site_id}/webhooks/{webhook_id}",
        headers=admin.headers,
    )


def _deliveries(admin: Admin, webhook_id: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{admin.ops}/deliveries", params={"webhook_id": webhook_id}, headers=admin.headers
    )
    assert response.status_code == 200, response.text
    return list(response.json()["deliveries"])


def _wait(admin: Admin, webhook_id: str, done: Any) -> list[dict[str, Any]]:
    """The webhook's deliveries once ``done(deliveries)`` holds."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        found = _deliveries(admin, webhook_id)
        if done(found):
            return found
        time.sleep(0.1)
    raise AssertionError(f"deliveries of {webhook_id} never settled: {found}")


def _fill_webhook_form(page: Any, name: str, event: str, url: str) -> None:
    page.fill("#webhook-form input[name=name]", name)
    page.select_option("#webhook-event", event)
    page.fill("#webhook-form input[name=url]", url)


def test_create_edit_rotate_fire_and_delete_a_webhook(
    watch: PageWatch, admin: Admin, ui_server: ServerProcess
) -> None:
    page = watch.page
    allow_clipboard(watch, ui_server.base_url)
    sign_in(page)
    bin_ = admin.create_bin(name="Managed receiver")

    # Create, as the REST API would: it answers with the same webhook.
    page.goto("/ui/webhooks")
    page.click("#new-webhook")
    _fill_webhook_form(page, "ui-made", "WorkbookCreated", bin_["url"])
    page.click("#webhook-form button[type=submit]")
    expect(page.locator(".notice")).to_contain_text("Webhook created")
    webhook_id = page.url.split("/ui/webhooks/")[1].split("?")[0]
    made = _webhook(admin, webhook_id).json()["webhook"]
    assert (made["name"], made["event"], made["isEnabled"]) == ("ui-made", "WorkbookCreated", True)
    assert made["webhook-destination"]["webhook-destination-http"]["url"] == bin_["url"]

    # The service's rules, with its words: a taken name, a destination the policy refuses.
    page.goto("/ui/webhooks/new")
    _fill_webhook_form(page, "ui-made", "WorkbookCreated", bin_["url"])
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.click("#webhook-form button[type=submit]")
    assert answer.value.status == 409
    expect(page.locator(".error")).to_contain_text("already exists")
    expect(page.locator("#webhook-form input[name=name]")).to_have_value("ui-made")
    _fill_webhook_form(page, "ui-elsewhere", "WorkbookCreated", "ftp://files.example.test/x")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.click("#webhook-form button[type=submit]")
    assert answer.value.status == 400
    expect(page.locator(".error")).to_contain_text("is not allowed")

    # Edit: rename, another event, switched off; then on again.
    page.goto(f"/ui/webhooks/{webhook_id}")
    page.click("#edit-webhook")
    expect(page.locator("#webhook-form input[name=name]")).to_have_value("ui-made")
    _fill_webhook_form(page, "ui-renamed", "WorkbookUpdated", bin_["url"])
    page.uncheck("#webhook-form input[name=enabled]")
    page.click("#webhook-form button[type=submit]")
    expect(page.locator(".notice")).to_have_text("Webhook saved.")
    expect(page.locator("#webhook-status")).to_contain_text("disabled")
    edited = _webhook(admin, webhook_id).json()["webhook"]
    assert (edited["name"], edited["event"], edited["isEnabled"]) == (
        "ui-renamed",
        "WorkbookUpdated",
        False,
    )
    page.click("#edit-webhook")
    page.check("#webhook-form input[name=enabled]")
    page.click("#webhook-form button[type=submit]")
    expect(page.locator("#webhook-status")).to_contain_text("enabled")

    # Rotate: asked to confirm; the new secret is shown once, copied, and signs what follows.
    page.click("#rotate-form button")
    assert watch.dialogs[-1].startswith("Rotate the signing secret?")
    expect(page.locator("#new-secret")).to_have_count(0)  # "Cancel" changed nothing
    watch.accept_dialogs = True
    page.click("#rotate-form button")
    secret = page.locator("#new-secret").inner_text()
    assert secret.startswith("whsec_")
    page.click("#new-secret-box button[data-copy]")
    expect(page.locator("#new-secret-box button[data-copy]")).to_have_text("Copied")
    assert watch.clipboard() == secret
    shown = httpx.get(f"{admin.ops}/webhooks/{webhook_id}/secret", headers=admin.headers)
    assert shown.json()["current"] == secret
    page.goto(f"/ui/webhooks/{webhook_id}")
    expect(page.locator("#new-secret")).to_have_count(0)  # once means once
    expect(page.locator("#webhook-signing")).to_contain_text("signed")

    # Fire the webhook's event: a real delivery, signed with the new secret.
    page.fill("#fire-form input[name=resource_name]", "Quarterly Sales")
    page.click("#fire-form button")
    expect(page.locator(".notice")).to_contain_text("Event fired")
    expect(
        page.locator("article.delivery").first.locator(".badge.status-succeeded")
    ).to_be_visible()
    (captured,) = admin.wait_requests(bin_["id"], 1)
    assert json.loads(captured["body"])["resource_name"] == "Quarterly Sales"
    assert signing.verify(secret, dict(captured["headers"]), captured["body"].encode())

    # Delete: "Cancel" keeps it; confirmed, it is gone from the list and the API.
    watch.accept_dialogs = False
    page.click("#delete-form button")
    assert _webhook(admin, webhook_id).status_code == 200
    watch.accept_dialogs = True
    page.click("#delete-form button")
    expect(page.locator(".notice")).to_have_text("Webhook deleted.")
    expect(page.locator(f"tr[data-webhook-id='{webhook_id}']")).to_have_count(0)
    assert _webhook(admin, webhook_id).status_code == 404


def test_the_list_shows_each_webhooks_health_and_flags_the_troubled_ones(
    watch: PageWatch, admin: Admin, screenshots: Path
) -> None:
    healthy = admin.create_bin(name="Healthy receiver")
    failing = admin.create_bin(name="Failing receiver", response_status=503)
    gone = admin.create_bin(name="Retired receiver", response_status=410)
    ok_id = admin.create_webhook("orders-refreshed", healthy["url"], "DatasourceRefreshSucceeded")
    bad_id = admin.create_webhook("finance-alerts", failing["url"], "DatasourceRefreshFailed")
    gone_id = admin.create_webhook("legacy-crm-sync", gone["url"], "WorkbookCreated")
    for name in ("Orders", "Inventory"):
        admin.fire("DatasourceRefreshSucceeded", f"{name} Extract")
    admin.fire("DatasourceRefreshFailed", "Finance Extract")
    admin.fire("WorkbookCreated", "CRM Export")
    _wait(admin, ok_id, lambda found: [d["status"] for d in found] == ["succeeded"] * 2)
    # First attempt and its quick retry failed; the next retry is ten minutes away.
    _wait(admin, bad_id, lambda found: found and found[0]["attempts"] == 2)
    _wait(admin, gone_id, lambda found: found and found[0]["status"] == "failed")

    page = watch.page
    sign_in(page)
    page.goto("/ui/webhooks")
    ok_row = page.locator(f"tr[data-webhook-id='{ok_id}']")
    expect(ok_row.locator(".last .badge")).to_have_text("succeeded")
    expect(ok_row.locator(".last time.ago")).to_have_attribute(
        "title", re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$")
    )
    expect(ok_row.locator(".failures")).to_have_text("0")
    expect(ok_row).not_to_have_class(re.compile(r"failing|auto-disabled"))

    bad_row = page.locator(f"tr[data-webhook-id='{bad_id}']")
    expect(bad_row).to_have_class(re.compile(r"\bfailing\b"))
    expect(bad_row.locator(".last")).to_contain_text("503")
    expect(bad_row.locator(".failures")).to_have_text("2")
    expect(bad_row.locator(".retrying")).to_have_text("1")
    expect(bad_row.locator(".state")).to_contain_text("enabled")

    gone_row = page.locator(f"tr[data-webhook-id='{gone_id}']")
    expect(gone_row).to_have_class(re.compile(r"\bauto-disabled\b"))
    expect(gone_row.locator(".state")).to_contain_text("auto-disabled")
    expect(gone_row.locator(".state")).to_contain_text("410 Gone")
    page.screenshot(path=str(screenshots / "webhooks.png"), full_page=True, animations="disabled")

    # The last delivery links to its page; the auto-disabled webhook says what to do.
    bad_row.locator(".last a").click()
    expect(page.locator("#delivery-status")).to_have_text("pending")
    page.goto(f"/ui/webhooks/{gone_id}")
    expect(page.locator("#auto-disabled")).to_contain_text("410 Gone")
