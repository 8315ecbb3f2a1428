"""The bin page in a real browser: Tableau events appear live, bodies are inert text."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.acceptance.test_inbox import Admin
from tests.ui.conftest import PageWatch, expect

HOSTILE_BODY = (
    "<script>window.__pwned = 'script'; alert('script')</script>"
    "<img src=x onerror=\"window.__pwned = 'img'; alert('img')\">"
)


def test_fired_event_appears_live_with_its_badge(
    watch: PageWatch, admin: Admin, screenshots: Path
) -> None:
    bin_ = admin.create_bin(name="Tableau events")
    created = admin.create_webhook("inbox-live", bin_["url"], "WorkbookCreated")
    refresh = admin.create_webhook("inbox-live-refresh", bin_["url"], "DatasourceRefreshFailed")
    secret = admin.rotate_secret(created)
    admin.rotate_secret(refresh, secret)
    admin.update_bin(bin_["id"], signing_secret=secret)
    page = watch.page
    page.goto(bin_["ui_url"])
    expect(page.locator("[data-live-status]")).to_have_text("live")
    page.evaluate("window.__same_page = true")

    fired = admin.fire("WorkbookCreated", "Quarterly Sales")
    card = page.locator("article.req").first
    expect(card.locator(".event-badge")).to_have_text("WorkbookCreated")
    assert page.evaluate("window.__same_page") is True  # no reload: it arrived live
    admin.fire("DatasourceRefreshFailed", "Nightly Extract")
    expect(page.locator("article.req")).to_have_count(2)
    expect(page.locator("article.req").first.locator(".event-badge")).to_have_text(
        "DatasourceRefreshFailed"
    )
    newest = page.locator("article.req").first
    newest.locator("a.req-row").click()
    detail = page.locator("#detail")
    expect(detail.locator("pre.json")).to_contain_text('"resource_name": "Nightly Extract"')
    expect(detail.locator(".sig")).to_have_text("signature valid")
    expect(newest.locator(".sig")).to_have_text("signature valid")
    expect(detail.locator(".tableau a")).to_have_attribute(
        "href",
        f"/api/3.28/sites/{admin.site_id}/datasources/{detail.locator('.tableau code').inner_text()}",
    )
    older = page.locator("article.req").nth(1)
    older.locator("a.req-row").click()
    expect(detail.locator(".tableau")).to_contain_text(fired["resource_luid"])
    page.screenshot(path=str(screenshots / "inbox.png"), full_page=True, animations="disabled")

    phone = watch.context.new_page()
    phone.set_viewport_size({"width": 390, "height": 844})
    phone.goto(bin_["ui_url"])
    expect(phone.locator("article.req")).to_have_count(2)
    phone.locator("article.req").first.locator("a.req-row").click()
    expect(phone.locator("#detail pre.json")).to_be_visible()
    overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the page is {overflow}px wider than a phone screen"
    phone.screenshot(
        path=str(screenshots / "inbox-phone.png"), full_page=True, animations="disabled"
    )


def test_script_in_a_body_runs_nothing(watch: PageWatch, admin: Admin) -> None:
    bin_ = admin.create_bin(name="<b>hostile</b>")
    headers = {"Content-Type": "text/html", "webhook-id": "<script>alert(1)</script>"}
    httpx.post(bin_["url"], content=HOSTILE_BODY.encode(), headers=headers).raise_for_status()
    page = watch.page
    page.goto(bin_["ui_url"])
    expect(page.locator("h1")).to_contain_text("<b>hostile</b>")
    expect(page.locator("[data-live-status]")).to_have_text("live")
    httpx.post(
        f"{bin_['url']}/<script>?q=<script>", content=HOSTILE_BODY.encode(), headers=headers
    ).raise_for_status()
    cards = page.locator("article.req")
    expect(cards).to_have_count(2)  # one rendered with the page, one pushed live
    for i in range(2):
        cards.nth(i).locator("a.req-row").click()
        expect(page.locator("#detail [data-id]")).to_have_attribute(
            "data-id", str(cards.nth(i).get_attribute("data-id"))
        )
        expect(page.locator("#detail-body")).to_have_text(HOSTILE_BODY)
    assert page.evaluate("window.__pwned") is None
    assert page.locator("article.req script, article.req img").count() == 0
    assert page.locator("#detail script, #detail img").count() == 0
    assert watch.dialogs == []
