"""What a relay sends: payload parsing, filters, links, and the exact Slack, Teams and IFTTT
shapes for every family of event (content, extract refresh, view, user, site, label, flow)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tabhooks.errors import UnknownEvent
from tabhooks.relay import messages
from tabhooks.relay.messages import Filters, Inbound

SITE = "a1b2c3d4-0000-4000-8000-000000000001"
LUID = "f0e1d2c3-0000-4000-8000-0000000000aa"
WHEN = "2024-05-01T10:00:00Z"
BASE = "https://tabhooks.example.com"


def inbound(event_type: str, resource: str, name: str = "Superstore", **extra: str) -> Inbound:
    data = {
        "resource": resource,
        "event_type": event_type,
        "resource_name": name,
        "site_luid": SITE,
        "resource_luid": LUID,
        "created_at": WHEN,
        **extra,
    }
    return Inbound.from_json(data)


def ctx(event: Inbound, link: str = "", enrichment: dict[str, Any] | None = None) -> Any:
    return messages.context(event, link, enrichment or {})


# ------------------------------------------------------------------------------------ inbound


def test_from_json_without_event_type_raises_value_error() -> None:
    with pytest.raises(ValueError, match="event_type"):
        Inbound.from_json({"resource": "WORKBOOK", "event_type": "  "})


def test_from_json_missing_and_odd_fields_become_text() -> None:
    found = Inbound.from_json({"event_type": " WorkbookCreated ", "resource_name": 42})
    assert found == Inbound("", "WorkbookCreated", "42", "", "", "")


def test_legacy_event_spelling_is_named_the_friendly_way() -> None:
    legacy = inbound("webhook-source-event-datasource-refresh-failed", "EXTRACTS")
    assert legacy.event_name == "DatasourceRefreshFailed"
    assert inbound("SomethingNew", "WORKBOOK").event_name == "SomethingNew"


# ------------------------------------------------------------------------------------ filters


@pytest.mark.parametrize(
    ("filters", "event", "passes"),
    [
        (Filters((), "", ""), inbound("SiteDeleted", "SITE"), True),
        (Filters(("WorkbookCreated",), "", ""), inbound("WorkbookDeleted", "WORKBOOK"), False),
        (
            Filters(("WorkbookCreated",), "", ""),
            inbound("webhook-source-event-workbook-created", "WORKBOOK"),
            True,
        ),
        (Filters((), "sales*", ""), inbound("WorkbookCreated", "WORKBOOK", "Sales Q1"), True),
        (Filters((), "Sales*", ""), inbound("WorkbookCreated", "WORKBOOK", "Finance"), False),
        (Filters((), "", SITE.upper()), inbound("WorkbookCreated", "WORKBOOK"), True),
        (Filters((), "", "another-site"), inbound("WorkbookCreated", "WORKBOOK"), False),
    ],
)
def test_filters_match(filters: Filters, event: Inbound, passes: bool) -> None:
    assert filters.matches(event) is passes


def test_normalise_events_accepts_both_spellings_and_refuses_unknown_names() -> None:
    names = ["webhook-source-event-flow-completed", "DatasourceRefreshFailed"]
    assert messages.normalise_events(names) == ("FlowCompleted", "DatasourceRefreshFailed")
    with pytest.raises(UnknownEvent):
        messages.normalise_events(["NoSuchEvent"])


# ------------------------------------------------------------------------------------ links


@pytest.mark.parametrize(
    ("event_type", "resource", "site_url", "link"),
    [
        ("WorkbookCreated", "WORKBOOK", "", f"{BASE}/ui/content/workbooks/{LUID}"),
        (
            "DatasourceRefreshFailed",
            "EXTRACTS",
            "fin",
            f"{BASE}/ui/content/datasources/{LUID}?site=fin",
        ),
        ("WorkbookRefreshFailed", "EXTRACTS", "", f"{BASE}/ui/content/workbooks/{LUID}"),
        ("ViewDeleted", "VIEW", "", f"{BASE}/ui/content/views/{LUID}"),
        ("FlowCompleted", "FLOW", "", f"{BASE}/ui/content/flows/{LUID}"),
        ("UserDeleted", "USER", "", ""),  # users have no page
        ("LabelCreated", "DATASOURCE", "", f"{BASE}/ui/content/datasources/{LUID}"),
        (
            "WorkbookCreated",
            "WORKBOOK",
            "a b&c",
            f"{BASE}/ui/content/workbooks/{LUID}?site=a%20b%26c",
        ),
        ("SiteUpdated", "SITE", "", ""),
        ("WorkbookCreated", "WORKBOOK", None, ""),  # not a site of this server
    ],
)
def test_resource_link_points_at_the_resource_page(
    event_type: str, resource: str, site_url: str | None, link: str
) -> None:
    assert messages.resource_link(BASE + "/", site_url, inbound(event_type, resource)) == link


def test_friendly_title_splits_the_event_name() -> None:
    assert messages.friendly_title("DatasourceRefreshFailed") == "Datasource refresh failed"
    assert messages.friendly_title("AdminPromoted") == "Admin promoted"


# ------------------------------------------------------------------------------------ shapes

#: One event of every family: (event_type, resource, resource_name, title).
FAMILIES = [
    ("DatasourceRefreshFailed", "EXTRACTS", "Sales Extract", "Datasource refresh failed"),
    ("WorkbookRefreshSucceeded", "EXTRACTS", "Ops Book", "Workbook refresh succeeded"),
    ("DatasourceCreated", "DATASOURCE", "Orders", "Datasource created"),
    ("WorkbookUpdated", "WORKBOOK", "Ops Book", "Workbook updated"),
    ("ViewDeleted", "VIEW", "Overview", "View deleted"),
    ("AdminPromoted", "USER", "jane", "Admin promoted"),
    ("SiteCreated", "SITE", "Finance", "Site created"),
    ("LabelCreated", "WORKBOOK", "Ops Book", "Label created"),
    ("FlowCompleted", "FLOW", "Nightly Prep", "Flow completed"),
]


@pytest.mark.parametrize(("event_type", "resource", "name", "title"), FAMILIES)
def test_slack_message_is_text_with_section_blocks(
    event_type: str, resource: str, name: str, title: str
) -> None:
    body = json.loads(messages.body("slack", ctx(inbound(event_type, resource, name)), None))
    assert body == {
        "text": f"{title}: {name}",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"{title}: {name}"}},
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*Event*\n{event_type}"},
                    {"type": "mrkdwn", "text": f"*Resource*\n{name}"},
                    {"type": "mrkdwn", "text": f"*Site*\n{SITE}"},
                    {"type": "mrkdwn", "text": f"*Time*\n{WHEN}"},
                ],
            },
        ],
    }


@pytest.mark.parametrize(("event_type", "resource", "name", "title"), FAMILIES)
def test_teams_message_is_one_adaptive_card(
    event_type: str, resource: str, name: str, title: str
) -> None:
    body = json.loads(messages.body("teams", ctx(inbound(event_type, resource, name)), None))
    assert body == {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        {
                            "type": "TextBlock",
                            "text": f"{title}: {name}",
                            "weight": "Bolder",
                            "size": "Medium",
                            "wrap": True,
                        },
                        {
                            "type": "FactSet",
                            "facts": [
                                {"title": "Event", "value": event_type},
                                {"title": "Resource", "value": name},
                                {"title": "Site", "value": SITE},
                                {"title": "Time", "value": WHEN},
                            ],
                        },
                    ],
                },
            }
        ],
    }


@pytest.mark.parametrize(("event_type", "resource", "name", "title"), FAMILIES)
def test_ifttt_message_is_three_values(
    event_type: str, resource: str, name: str, title: str
) -> None:
    body = json.loads(messages.body("ifttt", ctx(inbound(event_type, resource, name)), None))
    assert body == {"value1": event_type, "value2": name, "value3": f"site {SITE} at {WHEN}"}


def test_a_link_adds_slack_open_block_teams_action_and_ifttt_value3() -> None:
    link = f"{BASE}/#/datasources/{LUID}"
    shown = ctx(inbound("DatasourceRefreshFailed", "EXTRACTS"), link)
    slack = json.loads(messages.body("slack", shown, None))
    assert slack["blocks"][2] == {
        "type": "section",
        "text": {"type": "mrkdwn", "text": f"<{link}|Open>"},
    }
    card = json.loads(messages.body("teams", shown, None))["attachments"][0]["content"]
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Open", "url": link}]
    assert json.loads(messages.body("ifttt", shown, None))["value3"] == link


def test_a_rendered_template_replaces_the_text_of_each_shape() -> None:
    shown = ctx(inbound("WorkbookCreated", "WORKBOOK"))
    slack = json.loads(messages.body("slack", shown, "  New: Superstore\n"))
    assert slack["text"] == "New: Superstore"
    assert slack["blocks"][0]["text"]["text"] == "New: Superstore"
    card = json.loads(messages.body("teams", shown, "New"))["attachments"][0]["content"]
    assert card["body"][0]["text"] == "New"
    assert json.loads(messages.body("ifttt", shown, "New"))["value3"] == "New"
    # A template that renders to whitespace falls back to the default text.
    assert (
        json.loads(messages.body("slack", shown, " \n"))["text"] == "Workbook created: Superstore"
    )


def test_http_body_is_the_template_as_rendered_or_the_payload_unchanged() -> None:
    event = inbound("WorkbookCreated", "WORKBOOK")
    assert messages.body("http", ctx(event), "raw text\n") == "raw text\n"
    assert json.loads(messages.body("http", ctx(event), None)) == event.as_payload()


def test_unnamed_resource_is_named_by_its_luid() -> None:
    body = json.loads(messages.body("slack", ctx(inbound("UserDeleted", "USER", "")), None))
    assert body["text"] == f"User deleted: {LUID}"
    assert body["blocks"][1]["fields"][1] == {"type": "mrkdwn", "text": "*Resource*\n-"}


def test_context_gives_templates_event_enrichment_and_the_payload() -> None:
    event = inbound("DatasourceRefreshFailed", "EXTRACTS", "Sales")
    found = ctx(event, "L", {"project": "Finance"})
    assert found["payload"] == event.as_payload()
    assert found["enrichment"] == {"project": "Finance"}
    assert found["event"] == {
        **event.as_payload(),
        "name": "DatasourceRefreshFailed",
        "title": "Datasource refresh failed",
        "summary": found["event"]["summary"],
        "link": "L",
        "time": WHEN,
    }
    assert found["event"]["summary"]


@pytest.mark.parametrize(
    ("event_type", "resource", "kind"),
    [
        ("DatasourceRefreshFailed", "EXTRACTS", "datasource"),
        ("WorkbookRefreshStarted", "EXTRACTS", "workbook"),
        ("LabelCreated", "DATASOURCE", "datasource"),
        ("ViewDeleted", "VIEW", "view"),
        ("FlowCompleted", "FLOW", "flow"),
        ("UserDeleted", "USER", None),
        ("SiteCreated", "SITE", None),
    ],
)
def test_resource_kind_reads_the_resource_or_the_refresh_event_name(
    event_type: str, resource: str, kind: str | None
) -> None:
    assert messages.resource_kind(inbound(event_type, resource)) == kind
