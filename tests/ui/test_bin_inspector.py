"""The bin page as an inspector, in Chromium: select a request by click or keyboard, see it in
the detail pane, link to it, keep the selection while requests arrive live."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import httpx

from tests.acceptance.test_inbox import Admin
from tests.support.server import ServerProcess
from tests.ui.conftest import PageWatch, allow_clipboard, expect

HOSTILE = (
    "<script>window.__pwned = 'script'; alert('script')</script>"
    "<img src=x onerror=\"window.__pwned = 'img'; alert('img')\">"
)


def _send_three(admin: Admin, name: str) -> tuple[dict[str, Any], list[str]]:
    """A bin holding a JSON, a form and a text request; their ids, newest first."""
    bin_ = admin.create_bin(name=name)
    url = bin_["url"]
    httpx.post(
        f"{url}/orders?region=emea&page=2",
        json={"order": 1, "items": ["a", "b"]},
        headers={"X-Which": "json"},
    ).raise_for_status()
    httpx.post(
        f"{url}/signup",
        data={"email": "a@example.test", "plan": "pro plus"},
        headers={"X-Which": "form"},
    ).raise_for_status()
    httpx.put(
        f"{url}/notes",
        content=b"plain text body",
        headers={"X-Which": "text", "Content-Type": "text/plain"},
    ).raise_for_status()
    ids = [r["id"] for r in admin.wait_requests(bin_["id"], 3)]
    return bin_, ids


def _selected(page: Any, request_id: str) -> None:
    """The row of ``request_id`` is the one selected and the pane shows it."""
    expect(page.locator("article.req.selected")).to_have_count(1)
    expect(page.locator("article.req.selected")).to_have_attribute("data-id", request_id)
    expect(page.locator("#detail .req-detail")).to_have_attribute("data-id", request_id)


def test_click_shows_the_request_in_the_pane_with_copy_buttons(
    watch: PageWatch, admin: Admin, ui_server: ServerProcess, screenshots: Path
) -> None:
    bin_, (text_id, form_id, json_id) = _send_three(admin, "Orders inspector")
    allow_clipboard(watch, ui_server.base_url)
    page = watch.page
    page.goto(bin_["ui_url"])
    expect(page.locator("[data-live-status]")).to_have_text("live")
    _selected(page, text_id)  # none asked for: the newest
    page.evaluate("window.__same_page = true")

    rows = page.locator("article.req")
    expect(rows.nth(1).locator(".method")).to_have_text("POST")
    expect(rows.nth(1).locator(".from")).to_have_text("127.0.0.1")
    expect(rows.nth(1).locator("time.ago")).to_have_attribute("title", re.compile(r" UTC$"))
    rows.nth(1).locator("a.req-row").click()
    _selected(page, form_id)
    detail = page.locator("#detail")
    expect(detail.locator("#detail-headers")).to_contain_text("x-which")
    expect(detail.locator("#detail-headers tr", has_text="x-which")).to_contain_text("form")
    expect(detail.locator("#detail-form tr", has_text="plan")).to_contain_text("pro plus")
    expect(page).to_have_url(re.compile(rf"\?request={form_id}$"))
    assert page.evaluate("window.__same_page") is True  # swapped in place, not reloaded

    rows.nth(2).locator("a.req-row").click()
    _selected(page, json_id)
    expect(detail.locator("pre.json")).to_contain_text('"items": [')
    expect(detail.locator("#detail-query tr", has_text="region")).to_contain_text("emea")
    expect(detail.locator("#detail-url")).to_have_text(
        re.compile(rf"/inbox/{bin_['id']}/orders\?region=emea&page=2$")
    )
    page.screenshot(path=str(screenshots / "bin.png"), full_page=True, animations="disabled")
    detail.get_by_role("button", name="Copy", exact=True).nth(1).click()  # the body's
    assert watch.clipboard() == '{"order":1,"items":["a","b"]}'
    detail.get_by_role("button", name="Copy as curl").click()
    words = shlex.split(watch.clipboard().replace("\\\n", " "))
    assert words[:4] == ["curl", "-X", "POST", f"{bin_['url']}/orders?region=emea&page=2"]
    assert "x-which: json" in words and words[-2:] == [
        "--data-raw",
        '{"order":1,"items":["a","b"]}',
    ]


def test_keyboard_moves_the_selection(watch: PageWatch, admin: Admin) -> None:
    bin_, (text_id, form_id, json_id) = _send_three(admin, "keys")
    page = watch.page
    page.goto(bin_["ui_url"])
    _selected(page, text_id)
    page.keyboard.press("j")
    _selected(page, form_id)
    page.keyboard.press("ArrowDown")
    _selected(page, json_id)
    expect(page.locator("#detail pre.json")).to_contain_text('"order": 1')
    page.keyboard.press("ArrowDown")  # the last stays selected
    _selected(page, json_id)
    page.keyboard.press("k")
    _selected(page, form_id)
    page.keyboard.press("ArrowUp")
    _selected(page, text_id)
    expect(page).to_have_url(re.compile(rf"\?request={text_id}$"))
    # Keys typed into a field are the field's, not the list's (a stand-in for the settings
    # form, which only those who manage the bin see).
    page.evaluate("document.body.insertAdjacentHTML('beforeend', '<input id=typing>')")
    page.locator("#typing").press("j")
    _selected(page, text_id)


def test_a_live_arrival_does_not_move_the_selection(watch: PageWatch, admin: Admin) -> None:
    bin_, (_, form_id, _) = _send_three(admin, "live")
    page = watch.page
    page.goto(bin_["ui_url"])
    expect(page.locator("[data-live-status]")).to_have_text("live")
    page.locator(f"#req-{form_id} a.req-row").click()
    _selected(page, form_id)
    late = {"webhook-id": "msg_late"}
    httpx.post(bin_["url"], json={"late": True}, headers=late).raise_for_status()
    rows = page.locator("article.req")
    expect(rows).to_have_count(4)
    expect(rows.first).not_to_have_attribute("data-id", form_id)
    expect(rows.first.locator(".path")).to_have_text("/")
    expect(rows.first).not_to_have_class(re.compile(r"\bdup\b"))  # alone: no duplicate
    _selected(page, form_id)
    expect(page.locator("#detail-form")).to_contain_text("pro plus")
    httpx.post(bin_["url"], json={"late": True}, headers=late).raise_for_status()
    expect(rows).to_have_count(5)
    expect(rows.first.locator(".dup-badge")).to_have_text("duplicate 2/2")
    expect(rows.nth(1)).to_have_class(re.compile(r"\bdup\b"))  # its first arrival, marked
    _selected(page, form_id)


def test_the_first_arrival_in_an_empty_bin_is_selected(watch: PageWatch, admin: Admin) -> None:
    bin_ = admin.create_bin(name="empty")
    page = watch.page
    page.goto(bin_["ui_url"])
    expect(page.locator("[data-live-status]")).to_have_text("live")
    expect(page.locator("#detail .pane-empty")).to_be_visible()
    httpx.post(bin_["url"], json={"first": True}).raise_for_status()
    (item,) = admin.wait_requests(bin_["id"], 1)
    _selected(page, item["id"])
    expect(page.locator("#detail pre.json")).to_contain_text('"first": true')


def test_a_link_opens_the_request_selected_with_or_without_script(
    watch: PageWatch, admin: Admin, browser: Any, ui_server: ServerProcess
) -> None:
    bin_, (text_id, form_id, json_id) = _send_three(admin, "links")
    page = watch.page
    page.goto(f"{bin_['ui_url']}?request={json_id}")
    _selected(page, json_id)
    expect(page.locator("#detail pre.json")).to_contain_text('"order": 1')
    page.locator("#detail a.permalink").click()
    expect(page).to_have_url(re.compile(rf"\?request={json_id}$"))
    _selected(page, json_id)

    context = browser.new_context(base_url=ui_server.base_url, java_script_enabled=False)
    try:
        plain = context.new_page()
        plain.goto(f"{bin_['ui_url']}?request={form_id}")
        _selected(plain, form_id)
        plain.locator(f"#req-{text_id} a.req-row").click()  # a link: the server renders it
        expect(plain).to_have_url(re.compile(rf"\?request={text_id}$"))
        _selected(plain, text_id)
        expect(plain.locator("#detail-body")).to_have_text("plain text body")
    finally:
        context.close()


def test_hostile_headers_and_bodies_run_nothing_in_the_pane(watch: PageWatch, admin: Admin) -> None:
    bin_ = admin.create_bin(name="<script>alert('name')</script>")
    headers = {"Content-Type": "text/html", "X-Evil": HOSTILE, "webhook-id": "<script>x</script>"}
    httpx.post(f"{bin_['url']}/<script>?q=<script>", content=HOSTILE.encode(), headers=headers)
    (first,) = admin.wait_requests(bin_["id"], 1)
    page = watch.page
    page.goto(f"{bin_['ui_url']}?request={first['id']}")
    expect(page.locator("[data-live-status]")).to_have_text("live")
    httpx.post(f"{bin_['url']}/<img src=x>", content=HOSTILE.encode(), headers=headers)
    rows = page.locator("article.req")
    expect(rows).to_have_count(2)  # one rendered with the page, one pushed live
    _selected(page, first["id"])
    for i in range(2):
        rows.nth(i).locator("a.req-row").click()
        _selected(page, str(rows.nth(i).get_attribute("data-id")))
        expect(page.locator("#detail-body")).to_have_text(HOSTILE)
        expect(page.locator("#detail-headers tr", has_text="x-evil")).to_contain_text(HOSTILE)
        expect(page.locator("#detail-curl")).to_contain_text("<script>")
    assert page.evaluate("window.__pwned") is None
    assert page.locator("main script, main img").count() == 1  # bins.js, nothing captured
    assert watch.dialogs == []
