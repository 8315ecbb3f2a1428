"""The first page (``/``) and the project docs in a real browser, offline: what the server
is, where to go, the URL to give a client; every doc page listed opens, links between them
work, and nothing is fetched from elsewhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from tabhooks.web.headers import CONTENT_SECURITY_POLICY
from tests.support.server import ServerProcess
from tests.ui.conftest import PageWatch, allow_clipboard, expect

_LOCAL = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def _offline(watch: PageWatch) -> list[str]:
    """Refuse (and note) any request that leaves this machine, as without internet."""
    elsewhere: list[str] = []

    def local_only(route: Any) -> None:
        if urlsplit(route.request.url).hostname in _LOCAL:
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    watch.context.route("**/*", local_only)
    return elsewhere


def test_the_first_page_says_what_this_is_and_where_to_go(
    watch: PageWatch, ui_server: ServerProcess, screenshots: Path
) -> None:
    elsewhere = _offline(watch)
    allow_clipboard(watch, ui_server.base_url)
    page = watch.page
    answer = page.goto("/")
    assert answer is not None and answer.status == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    expect(page.locator("h1")).to_contain_text("Tableau webhooks, self-hosted")
    base = ui_server.base_url
    expect(page.locator("#base-url")).to_have_text(base)
    expect(page.locator("#rest-url")).to_have_text(f"{base}/api/3.28")
    expect(page.locator("#tsc-line")).to_contain_text(f'TSC.Server("{base}"')
    page.screenshot(path=str(screenshots / "home.png"), full_page=True, animations="disabled")
    page.click("#rest button[data-copy=rest-url]")
    assert watch.clipboard() == f"{base}/api/3.28"

    for tile, lands in (
        ("#go-dashboard", "/ui/login"),
        ("#go-inspector", "/ui/login"),  # both need a signed-in user
        ("#go-api-docs", "/tabhooks/docs"),
        ("#go-docs", "/ui/docs/"),
    ):
        page.goto("/")
        page.click(tile)
        page.wait_for_load_state()
        assert urlsplit(page.url).path == lands, (tile, page.url)

    # Every doc page listed opens, with its title.
    page.goto("/")
    links = page.locator("#project-docs a")
    names = links.evaluate_all("nodes => nodes.map(n => n.getAttribute('href'))")
    assert "/ui/docs/README.md" in names and "/ui/docs/relay.md" in names
    for href in names:
        opened = page.goto(href)
        assert opened is not None and opened.status == 200, href
        expect(page.locator("#doc h1").first).to_be_visible()
    assert elsewhere == []


def test_doc_pages_link_to_each_other_and_to_their_anchors(watch: PageWatch) -> None:
    elsewhere = _offline(watch)
    page = watch.page
    page.goto("/ui/docs/configuration.md")
    link = page.locator("#doc a[href^='/ui/docs/security.md#']").first
    anchor = str(link.get_attribute("href")).split("#", 1)[1]
    link.click()
    assert page.url.endswith(f"/ui/docs/security.md#{anchor}")
    expect(page.locator(f"#doc [id='{anchor}']")).to_be_visible()
    page.goto("/ui/docs/README.md")
    image = page.locator("#doc img[src='/ui/docs/screenshots/inbox.png']")
    expect(image).to_have_count(1)  # README's docs/screenshots/inbox.png, served here
    assert image.evaluate("img => img.complete && img.naturalWidth > 0")
    missing = page.goto("/ui/docs/nope.md")
    assert missing is not None and missing.status == 404
    assert elsewhere == []


def test_clients_still_get_tableau_answers_beside_the_page(ui_server: ServerProcess) -> None:
    """``/`` is a page; the REST API's own paths and errors are unchanged."""
    home = httpx.get(f"{ui_server.base_url}/", headers={"Accept": "application/xml"})
    assert home.status_code == 200 and home.headers["content-type"].startswith("text/html")
    info = httpx.get(f"{ui_server.base_url}/api/3.28/serverinfo")
    assert info.status_code == 200 and "<serverInfo>" in info.text.replace(" ", "")
    missing = httpx.get(f"{ui_server.base_url}/api/3.28/nothing-here")
    assert missing.status_code == 404 and 'code="404003"' in missing.text
