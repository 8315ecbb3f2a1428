"""Slack and Teams previews, request headers, relative times and the docs' link rewriting:
the pure parts of the dashboard's delivery and docs pages."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tabhooks.relay import messages
from tabhooks.web import previews, projectdocs
from tabhooks.web.templating import header_pairs, pretty, relative

LINK = "http://127.0.0.1:8000/ui/content/datasources/abc"


def _ctx() -> dict[str, object]:
    inbound = messages.Inbound("DATASOURCE", "DatasourceRefreshFailed", "Orders", "s1", "abc", "T")
    return messages.context(inbound, LINK, {})


def _text(runs: list[previews.Run]) -> str:
    return "".join(run.text for run in runs)


def test_slack_preview_keeps_the_order_of_the_blocks_the_relay_sends() -> None:
    body = messages.body("slack", _ctx(), None)
    shown = previews.message("slack", body)
    assert shown is not None and shown.app == "Slack"
    headline, fields, open_link = shown.blocks
    assert [_text(line) for line in headline.lines] == ["Datasource refresh failed: Orders"]
    assert [(title, _text(value)) for title, value in fields.fields] == [
        ("Event", "DatasourceRefreshFailed"),
        ("Resource", "Orders"),
        ("Site", "s1"),
        ("Time", "T"),
    ]
    (run,) = open_link.lines[0]
    assert (run.text, run.href) == ("Open", LINK)


def test_teams_preview_reads_the_adaptive_card() -> None:
    shown = previews.message("teams", messages.body("teams", _ctx(), "New *extract* failed"))
    assert shown is not None and shown.app == "Teams"
    assert shown.blocks[0].lines == [[previews.Run("New *extract* failed", bold=True)]]
    assert ("Resource", [previews.Run("Orders")]) in shown.blocks[1].fields
    assert shown.buttons == [("Open", LINK)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("*Bold* and plain", [previews.Run("Bold", bold=True), previews.Run(" and plain")]),
        ("<https://x.test/a|A>", [previews.Run("A", href="https://x.test/a")]),
        ("<https://x.test/a>", [previews.Run("https://x.test/a", href="https://x.test/a")]),
        ("<javascript:alert(1)|go>", [previews.Run("go", href=None)]),
        ("<data:text/html,x>", [previews.Run("data:text/html,x", href=None)]),
        ("<b>x</b>", [previews.Run("<b>x</b>")]),
    ],
)
def test_mrkdwn_links_only_http_and_keeps_other_markup_as_text(
    text: str, expected: list[previews.Run]
) -> None:
    assert previews.mrkdwn(text) == [expected]


@pytest.mark.parametrize(
    "body", [None, "", "not json", "[1, 2]", '{"attachments": "x"}', "[" * 100_000]
)
def test_bodies_that_are_not_messages_have_no_preview(body: str | None) -> None:
    assert previews.message("teams", body) is None
    assert previews.message("http", '{"text": "x"}') is None


def test_slack_text_without_blocks_is_a_message_too() -> None:
    shown = previews.slack(json.dumps({"text": "line one\nline *two*"}))
    assert shown is not None
    assert [_text(line) for line in shown.blocks[0].lines] == ["line one", "line two"]


def test_request_headers_name_what_each_attempt_sends() -> None:
    started = datetime(2026, 5, 1, 9, 30, 0, 900_000, tzinfo=UTC)
    shown = {
        h.name: h for h in previews.request_headers("msg_1", attempt_started=started, signed=True)
    }
    assert shown["webhook-id"].value == "msg_1"
    assert shown["webhook-timestamp"].value == str(int(started.timestamp()))
    assert shown["webhook-signature"].value == "v1,…"
    plain = previews.request_headers(
        "msg_2",
        attempt_started=None,
        signed=False,
        extra={"content-type": "text/plain", "X-A": "1"},
    )
    names = [h.name for h in plain]
    assert "webhook-signature" not in names
    assert names.count("content-type") == 1 and "Content-Type" not in names  # a target's wins
    assert plain[-1] == previews.Header("X-A", "1", "set on the relay target")


@pytest.mark.parametrize(
    ("delta", "words"),
    [
        (timedelta(seconds=2), "just now"),
        (timedelta(seconds=42), "42 s ago"),
        (timedelta(minutes=2, seconds=5), "2 min ago"),
        (timedelta(hours=5), "5 h ago"),
        (timedelta(days=1), "1 day ago"),
        (timedelta(days=3, hours=4), "3 days ago"),
        (-timedelta(hours=23, minutes=59), "in 23 h"),
    ],
)
def test_relative_times_read_as_people_say_them(delta: timedelta, words: str) -> None:
    now = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    assert relative(now - delta, now) == words


def test_pretty_indents_json_and_leaves_the_rest() -> None:
    assert pretty('{"a":1}') == '{\n  "a": 1\n}'
    assert pretty(b"plain") == "plain"
    assert pretty("[" * 100_000) == "[" * 100_000
    assert header_pairs('{"content-type": "text/plain"}') == [("content-type", "text/plain")]
    assert header_pairs("not json") == header_pairs(None) == []


@pytest.mark.parametrize(
    ("href", "expected"),
    [
        ("cli.md", "/ui/docs/cli.md"),
        ("docs/relay.md#enrichment", "/ui/docs/relay.md#enrichment"),
        ("../README.md#quick-start", "/ui/docs/README.md#quick-start"),
        ("#signatures", "#signatures"),
        ("https://cryptography.io/en/latest/fernet/", "https://cryptography.io/en/latest/fernet/"),
    ],
)
def test_doc_links_point_at_their_pages(href: str, expected: str) -> None:
    html = projectdocs.render(f"[x]({href})")
    assert f'href="{expected}"' in html


def test_doc_headings_get_githubs_anchors_and_raw_html_stays_text() -> None:
    html = projectdocs.render(
        "# Secrets at rest\n\n## What the server fetches\n\n## Secrets at rest\n\n<script>x</script>"
    )
    assert '<h1 id="secrets-at-rest">' in html
    assert '<h2 id="what-the-server-fetches">' in html
    assert '<h2 id="secrets-at-rest-1">' in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    image = projectdocs.render("![shot](screenshots/inbox.png)")
    assert 'src="/ui/docs/screenshots/inbox.png"' in image
