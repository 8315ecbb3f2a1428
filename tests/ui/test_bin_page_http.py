"""The bin page's selected request as the server renders it (no script): ``?request=<id>``,
the newest by default, the detail pane fragment, and hostile captures kept as text."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import httpx

from tests.acceptance.test_inbox import Admin, ui_client
from tests.support.server import ServerProcess

HOSTILE = "<script>window.__pwned = 1</script><img src=x onerror=alert(1)>"


class Dom(HTMLParser):
    """Every element's tag, attributes and text, enough to ask what one element holds."""

    VOID = frozenset({"br", "hr", "img", "input", "link", "meta", "source", "wbr"})

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None], list[str]]] = []
        self._open: list[int] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs), []))
        if tag not in self.VOID:
            self._open.append(len(self.elements) - 1)

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            if self.elements[self._open.pop()][0] == tag:
                break

    def handle_data(self, data: str) -> None:
        for index in self._open:
            self.elements[index][2].append(data)

    def find(self, **attrs: str) -> list[tuple[str, dict[str, str | None], str]]:
        """Elements whose attributes include ``attrs`` (``class_`` matches one class)."""
        wanted_class = attrs.pop("class_", None)
        found = []
        for tag, have, text in self.elements:
            if any(have.get(k.replace("_", "-")) != v for k, v in attrs.items()):
                continue
            if wanted_class and wanted_class not in (have.get("class") or "").split():
                continue
            found.append((tag, have, "".join(text)))
        return found

    def text(self, element_id: str) -> str:
        (found,) = self.find(id=element_id)
        return found[2]


def _post(url: str, **kwargs: Any) -> None:
    httpx.post(url, **kwargs).raise_for_status()


def _two_requests(admin: Admin) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    bin_ = admin.create_bin(name="two requests")
    _post(f"{bin_['url']}/first?a=1", json={"n": 1}, headers={"X-Which": "first"})
    _post(
        f"{bin_['url']}/second?colour=blue&size=",
        data={"field": "two words", "other": "x"},
        headers={"X-Which": "second"},
    )
    newest_first = admin.wait_requests(bin_["id"], 2)
    return bin_, newest_first


def test_request_param_renders_that_request_selected(
    ui_server: ServerProcess, admin: Admin
) -> None:
    bin_, (second, first) = _two_requests(admin)
    page = httpx.get(bin_["ui_url"], params={"request": first["id"]})
    assert page.status_code == 200, page.text
    dom = Dom(page.text)
    (pane,) = dom.find(id="detail")
    assert pane[1]["data-shown"] == first["id"]
    (row,) = dom.find(class_="selected")
    assert row[1]["id"] == f"req-{first['id']}"
    assert dom.find(href=f"/ui/bins/{bin_['id']}?request={second['id']}")  # rows are links
    assert "x-whichfirst" in dom.text("detail-headers")  # name and value cells
    assert dom.text("detail-json").strip() == '{\n  "n": 1\n}'
    assert dom.text("detail-url").endswith(f"/inbox/{bin_['id']}/first?a=1")
    assert "curl -X POST" in dom.text("detail-curl")
    assert not dom.find(action=f"/ui/bins/{bin_['id']}/requests/{first['id']}/replay")


def test_without_a_choice_the_newest_is_selected_and_forms_are_tables(
    ui_server: ServerProcess, admin: Admin
) -> None:
    bin_, (second, _) = _two_requests(admin)
    dom = Dom(httpx.get(bin_["ui_url"]).text)
    assert dom.find(id="detail")[0][1]["data-shown"] == second["id"]
    query = dom.text("detail-query")
    assert "colour" in query and "blue" in query and "size" in query
    form = dom.text("detail-form")
    assert "field" in form and "two words" in form  # decoded, '+' read as a space
    assert dom.text("detail-body") == "field=two+words&other=x"  # and the raw body as sent


def test_a_request_no_longer_held_is_a_404_page_that_says_so(
    ui_server: ServerProcess, admin: Admin
) -> None:
    bin_, _ = _two_requests(admin)
    page = httpx.get(bin_["ui_url"], params={"request": "req_gone"})
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    dom = Dom(page.text)
    assert "No request 'req_gone' is held" in dom.find(id="detail")[0][2]
    assert len(dom.find(class_="req")) == 2  # the list is still there
    pane = httpx.get(f"{ui_server.base_url}/ui/bins/{bin_['id']}/requests/req_gone/pane")
    assert pane.status_code == 404
    assert "No request 'req_gone' is held" in Dom(pane.text).find(class_="pane-empty")[0][2]


def test_the_pane_fragment_and_its_replay_form_for_who_manages_the_bin(
    ui_server: ServerProcess, admin: Admin
) -> None:
    bin_, (second, _) = _two_requests(admin)
    pane_url = f"/ui/bins/{bin_['id']}/requests/{second['id']}/pane"
    anonymous = httpx.get(f"{ui_server.base_url}{pane_url}")
    assert anonymous.status_code == 200 and anonymous.headers["cache-control"] == "no-store"
    assert "Content-Security-Policy" in anonymous.headers
    dom = Dom(anonymous.text)
    assert dom.find(class_="req-detail")[0][1]["data-id"] == second["id"]
    replay = f"/ui/bins/{bin_['id']}/requests/{second['id']}/replay"
    assert not dom.find(action=replay)
    client, _ = ui_client(ui_server.base_url)
    try:
        managed = Dom(client.get(pane_url).text)
    finally:
        client.close()
    assert managed.find(action=replay)


def test_hostile_headers_and_bodies_are_text_in_the_page_and_the_pane(
    ui_server: ServerProcess, admin: Admin
) -> None:
    bin_ = admin.create_bin(name="hostile")
    _post(
        f"{bin_['url']}/<script>?q=<script>",
        content=HOSTILE.encode(),
        headers={"Content-Type": "text/html", "X-Hostile": HOSTILE},
    )
    (item,) = admin.wait_requests(bin_["id"], 1)
    page = httpx.get(bin_["ui_url"], params={"request": item["id"]})
    pane = httpx.get(f"{ui_server.base_url}/ui/bins/{bin_['id']}/requests/{item['id']}/pane")
    for html in (page.text, pane.text):
        assert "window.__pwned" in html  # the body is there, as text
        dom = Dom(html)
        assert [e for e in dom.find() if e[0] == "img"] == []
        scripts = [e for e in dom.find() if e[0] == "script"]
        assert all(s[1].get("src", "").startswith("/ui/static/") for s in scripts), scripts
        assert dom.text("detail-body") == HOSTILE
        assert HOSTILE in dom.text("detail-headers")
