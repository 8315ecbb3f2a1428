"""The dashboard in a real browser: sign-in, a delivery's story, buttons, CSRF refusal."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.acceptance.test_inbox import Admin
from tests.ui.conftest import PageWatch, expect, sign_in


def test_sign_in_with_a_wrong_password_fails(watch: PageWatch) -> None:
    page = watch.page
    sign_in(page, password="not-the-password")
    expect(page.locator(".error")).to_have_text("Wrong user name, password or site.")
    assert page.url.endswith("/ui/login")
    assert not [c for c in watch.context.cookies() if c["name"] == "tabhooks_session"]
    page.goto("/ui/webhooks")
    expect(page.locator("h1")).to_have_text("Sign in")


def test_bin_failing_twice_shows_two_failed_attempts_then_a_success(
    watch: PageWatch, admin: Admin, screenshots: Path
) -> None:
    page = watch.page
    sign_in(page)
    expect(page.locator("h1")).to_contain_text("Webhooks")
    bin_ = admin.create_bin(name="Flaky receiver")
    page.goto(bin_["ui_url"])
    page.locator("#bin-settings summary").click()
    page.fill("input[name=fail_next]", "2")
    page.click("#settings-form button[type=submit]")
    expect(page.locator(".notice")).to_have_text("Settings saved.")
    expect(page.locator(".capture")).to_contain_text("fails the next 2")

    webhook_id = admin.create_webhook("flaky-refresh", bin_["url"], "DatasourceRefreshSucceeded")
    page.goto(f"/ui/webhooks/{webhook_id}")
    expect(page.locator("#deliveries .empty")).to_be_visible()
    admin.fire("DatasourceRefreshSucceeded", "Sales Extract")
    delivery = page.locator("article.delivery").first
    expect(delivery.locator("li.attempt")).to_have_count(3)
    expect(delivery.locator("li.attempt.fail")).to_have_count(2)
    expect(delivery.locator("li.attempt.ok")).to_have_count(1)
    expect(delivery.locator("li.attempt").nth(0).locator(".code")).to_have_text("500")
    expect(delivery.locator("li.attempt").nth(2).locator(".code")).to_have_text("200")
    expect(delivery.locator(".badge.status-succeeded")).to_be_visible()
    delivery.locator("li.attempt").first.locator("summary").click()
    expect(delivery.locator("li.attempt").first.locator("pre.excerpt")).to_contain_text(
        "forced failure"
    )
    page.reload()  # the charts are drawn with the page
    expect(page.locator("rect.bar.http_error").first).to_be_attached()
    page.locator("li.attempt").first.locator("summary").click()
    page.screenshot(
        path=str(screenshots / "dashboard-webhook.png"), full_page=True, animations="disabled"
    )

    _more_history(admin)
    page.goto("/ui/webhooks")
    row = page.locator(f"tr[data-webhook-id='{webhook_id}']")
    expect(row).to_contain_text("enabled")
    expect(page.locator("rect.bar.http_error").first).to_be_attached()
    expect(page.locator("rect.bar.succeeded").first).to_be_attached()
    expect(page.locator("polyline.line.mean").first).to_be_attached()
    expect(page.locator("tr.webhook")).to_have_count(3, timeout=15_000)
    page.screenshot(path=str(screenshots / "dashboard.png"), full_page=True, animations="disabled")


def _more_history(admin: Admin) -> None:
    """A healthy webhook with a few deliveries and a disabled one, so the overview has a story."""
    healthy = admin.create_bin(name="Extract monitor")
    webhook_id = admin.create_webhook("extract-monitor", healthy["url"], "DatasourceRefreshFailed")
    for name in ("Sales", "Finance", "Inventory"):
        admin.fire("DatasourceRefreshFailed", f"{name} Extract")
    admin.wait_requests(healthy["id"], 3)
    retired = admin.create_webhook("legacy-endpoint", healthy["url"], "WorkbookUpdated")
    response = httpx.put(
        f"{admin.base_url}/api/3.28/sites/{admin.site_id}/webhooks/{retired}",
        json={"webhook": {"isEnabled": False, "statusChangeReason": "Endpoint retired"}},
        headers=admin.headers,
    )
    assert response.status_code == 200, response.text
    assert webhook_id


def test_buttons_send_test_disable_enable_and_redeliver(watch: PageWatch, admin: Admin) -> None:
    page = watch.page
    sign_in(page)
    bin_ = admin.create_bin(name="Buttons")
    webhook_id = admin.create_webhook("buttons", bin_["url"], "WorkbookDeleted")
    page.goto(f"/ui/webhooks/{webhook_id}")
    page.click("#test-form button")
    expect(page.locator("#test-result")).to_contain_text("Test answered 200")
    (test_request,) = admin.wait_requests(bin_["id"], 1)
    assert test_request["body"] == "{}"

    page.fill("#disable-form input[name=reason]", "Maintenance window")
    page.click("#disable-form button")
    expect(page.locator(".notice")).to_have_text("Webhook disabled.")
    expect(page.locator("#webhook-status")).to_contain_text("Maintenance window")
    assert admin.fire("WorkbookDeleted", "Ignored")["deliveries"] == 0
    page.click("#enable-form button")
    expect(page.locator("#webhook-status")).to_contain_text("enabled")

    admin.fire("WorkbookDeleted", "Old Book")
    delivery = page.locator("article.delivery").first
    expect(delivery.locator(".badge.status-succeeded")).to_be_visible()
    delivery.locator("form.redeliver button").click()
    expect(page.locator(".notice")).to_contain_text("Delivery queued again")
    expect(page.locator("article.delivery").first.locator("li.attempt.ok")).to_have_count(2)
    ids = {r["webhook_id"] for r in admin.wait_requests(bin_["id"], 3)[:2]}
    assert len(ids) == 1  # the redelivery carries the same webhook-id


def test_a_form_without_its_csrf_token_is_refused(watch: PageWatch, admin: Admin) -> None:
    page = watch.page
    sign_in(page)
    webhook_id = admin.create_webhook("csrf-target", f"{admin.base_url}/inbox/bin_none")
    page.goto(f"/ui/webhooks/{webhook_id}")
    page.evaluate("document.querySelector('#disable-form input[name=csrf]').remove()")
    with page.expect_response(lambda r: r.url.endswith("/disable")) as answer:
        page.click("#disable-form button")
    assert answer.value.status == 403
    expect(page.locator("h1")).to_have_text("Form refused")
    webhook = httpx.get(
        f"{admin.base_url}/api/3.28/sites/{admin.site_id}/webhooks/{webhook_id}",
        headers=admin.headers,
    ).json()["webhook"]
    assert webhook["isEnabled"] is True
