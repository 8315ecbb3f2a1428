"""A newcomer's first minutes, as one test: start ``tabhooks serve --dev`` in an empty folder
(as ``./scripts/serve --dev`` does on a fresh clone), open the address it printed, go to the
dashboard, sign in, make a bin, create a webhook pointing at it, fire its event, and see the
delivery — on the dashboard, on its own page and in the bin — without a dead end."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import ADMIN_USERNAME, ServerProcess
from tests.ui.conftest import EXPECT_TIMEOUT_MS, PageWatch, expect, sign_in


@pytest.fixture
def fresh_server(tmp_path: Path) -> Any:
    """A server whose store is created now, in a folder with nothing in it."""
    folder = tmp_path / "fresh-clone"
    folder.mkdir()
    running = ServerProcess("sqlite:///tabhooks.db", folder, args=("--dev",)).start()
    yield running, folder
    running.stop()


def test_first_run_from_an_empty_folder_to_a_delivery(
    browser: Any, fresh_server: tuple[ServerProcess, Path], screenshots: Path
) -> None:
    server, folder = fresh_server
    printed = "".join(server.output)
    found = re.search(r"dashboard\s+(http://\S+)", printed)
    assert found, printed
    home = found.group(1).removesuffix("/ui/")
    assert home == server.base_url
    assert (folder / "tabhooks.db").exists()  # the default store, where the server started

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    watch = PageWatch(context)
    page = watch.page
    try:
        # The address printed answers with a page that says where to go.
        page.goto(f"{home}/")
        expect(page.locator("#rest-url")).to_have_text(f"{home}/api/3.28")
        page.click("#go-dashboard")
        expect(page.locator("h1")).to_have_text("Sign in")
        sign_in(page, go=False)
        expect(page.locator("h1")).to_contain_text("Webhooks")
        expect(page.locator(".empty")).to_contain_text("No webhooks on this site yet")

        # A bin to receive, from the inspector.
        page.click("header.top nav a:text('Inbox')")
        page.fill("#create-bin input[name=name]", "my first bin")
        page.click("#create-bin button[type=submit]")
        capture_url = page.locator("#capture-url").inner_text()
        bin_page = page.url
        assert capture_url.startswith(f"{home}/inbox/bin_")

        # A webhook pointing at it, from the dashboard.
        page.click("header.top nav a:text('Webhooks')")
        page.click("#new-webhook")
        page.fill("#webhook-form input[name=name]", "my-first-webhook")
        page.select_option("#webhook-event", "WorkbookCreated")
        page.fill("#webhook-form input[name=url]", capture_url)
        page.click("#webhook-form button[type=submit]")
        expect(page.locator(".notice")).to_contain_text("Webhook created")

        # Fire its event; the delivery appears, succeeded, and opens.
        page.click("#fire-form button")
        delivery = page.locator("article.delivery").first
        expect(delivery.locator(".badge.status-succeeded")).to_be_visible()
        expect(delivery.locator("li.attempt.ok .code")).to_have_text("200")
        page.screenshot(
            path=str(screenshots / "first-run-webhook.png"), full_page=True, animations="disabled"
        )
        delivery.locator("a.id").click()
        expect(page.locator("#delivery-status")).to_have_text("succeeded")
        sent = json.loads(page.locator("#delivery-body").inner_text())
        assert sent["event_type"] == "WorkbookCreated"
        assert sent["resource_name"] == "Sample: Superstore"

        # The bin shows what arrived: the same event.
        page.goto(bin_page)
        arrived = page.locator("article.req").first
        expect(arrived).to_be_visible(timeout=EXPECT_TIMEOUT_MS)
        expect(arrived).to_contain_text("WorkbookCreated")

        page.goto(f"{home}/ui/webhooks")
        expect(page.locator("tr.webhook .last .badge")).to_have_text("succeeded")
        expect(page.locator("header.top .user")).to_contain_text(ADMIN_USERNAME)
    finally:
        context.close()
    assert watch.csp_violations == []
