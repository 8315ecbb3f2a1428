"""What a relay sends: the template context of an event, and the Slack, Teams and IFTTT shapes.

Tableau's raw payload is six flat fields, which Slack answers with HTTP 400 and Teams with a
blank card; these functions turn it into the message each service documents:

- Slack incoming webhook: ``{"text", "blocks"}`` (``text`` is the notification fallback);
- Microsoft Teams incoming webhook / Workflows: a ``message`` carrying one Adaptive Card 1.4;
- IFTTT Maker webhooks: ``{"value1", "value2", "value3"}``.

A target's optional template replaces the message *text* (Slack ``text``, the card's headline,
IFTTT ``value3``); an ``http`` target's template is the whole body.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

from tabhooks import events as catalog

TARGET_TYPES = ("slack", "teams", "ifttt", "http")

Kind = Literal["workbook", "datasource", "view", "flow"]

_KIND_OF_RESOURCE: dict[str, Kind] = {
    "WORKBOOK": "workbook",
    "DATASOURCE": "datasource",
    "VIEW": "view",
    "FLOW": "flow",
}
#: Refresh events carry ``resource: EXTRACTS``; their name says which content refreshed.
_KIND_OF_EVENT_PREFIX: tuple[tuple[str, Kind], ...] = (
    ("Workbook", "workbook"),
    ("Datasource", "datasource"),
    ("View", "view"),
    ("Flow", "flow"),
)
#: Sections of the dashboard's content pages (``/ui/content/...``), by content kind. Users
#: and sites have no page, so their events carry no link.
_LINK_PATHS = {
    "workbook": "workbooks",
    "datasource": "datasources",
    "flow": "flows",
    "view": "views",
}


@dataclass(frozen=True, slots=True)
class Inbound:
    """A Tableau webhook payload as received, fields defaulted to ``""`` when absent."""

    resource: str
    event_type: str
    resource_name: str
    site_luid: str
    resource_luid: str
    created_at: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Inbound:
        """Read the payload's fields; raises ``ValueError`` when ``event_type`` is missing."""
        event_type = data.get("event_type")
        if not isinstance(event_type, str) or not event_type.strip():
            raise ValueError("the payload has no 'event_type' (is this a Tableau webhook?)")

        def text(key: str) -> str:
            value = data.get(key)
            return value if isinstance(value, str) else ("" if value is None else str(value))

        return cls(
            resource=text("resource"),
            event_type=event_type.strip(),
            resource_name=text("resource_name"),
            site_luid=text("site_luid"),
            resource_luid=text("resource_luid"),
            created_at=text("created_at"),
        )

    @property
    def event_name(self) -> str:
        """The friendly event name whichever spelling arrived (unknown names kept as sent)."""
        event = catalog.find(self.event_type)
        return event.name if event else self.event_type

    def as_payload(self) -> dict[str, str]:
        return {
            "resource": self.resource,
            "event_type": self.event_type,
            "resource_name": self.resource_name,
            "site_luid": self.site_luid,
            "resource_luid": self.resource_luid,
            "created_at": self.created_at,
        }


@dataclass(frozen=True, slots=True)
class Filters:
    """Which events a route passes on; empty fields pass everything."""

    events: tuple[str, ...]
    resource_glob: str
    site_luid: str

    def matches(self, inbound: Inbound) -> bool:
        if self.events and inbound.event_name not in self.events:
            return False
        if self.site_luid and inbound.site_luid.lower() != self.site_luid.lower():
            return False
        return not self.resource_glob or fnmatch.fnmatchcase(
            inbound.resource_name.lower(), self.resource_glob.lower()
        )


def friendly_title(event_name: str) -> str:
    """``DatasourceRefreshFailed`` → ``Datasource refresh failed``."""
    words = re.findall(r"[A-Z][a-z]*|[a-z]+|\d+", event_name) or [event_name]
    return " ".join([words[0], *(w.lower() for w in words[1:])])


def resource_kind(inbound: Inbound) -> Kind | None:
    """Which content the event is about, or ``None`` (users, sites) when there is none."""
    kind = _KIND_OF_RESOURCE.get(inbound.resource.upper())
    if kind is not None:
        return kind
    for prefix, found in _KIND_OF_EVENT_PREFIX:
        if inbound.event_name.startswith(prefix):
            return found
    return None


def resource_link(base_url: str | None, site_content_url: str | None, inbound: Inbound) -> str:
    """The resource's page in this server's dashboard (``/ui/content/...``, ``?site=`` naming
    a site other than the default), or ``""`` when it is not ours to link to."""
    path = _LINK_PATHS.get(resource_kind(inbound) or "")
    if not base_url or site_content_url is None or not path or not inbound.resource_luid:
        return ""
    return content_page_url(base_url, site_content_url, path, inbound.resource_luid)


def content_page_url(base_url: str, site_content_url: str, section: str, luid: str) -> str:
    """Where the dashboard shows a workbook, data source, flow or view (``section`` is
    ``workbooks``, ``datasources``, ``flows`` or ``views``); REST ``webpageUrl`` values and
    relay Open links both point here."""
    site = f"?site={quote(site_content_url, safe='')}" if site_content_url else ""
    return f"{base_url.rstrip('/')}/ui/content/{section}/{quote(luid, safe='')}{site}"


def context(inbound: Inbound, link: str, enrichment: Mapping[str, Any]) -> dict[str, Any]:
    """What templates see: ``event`` (payload fields plus friendly ones), ``enrichment``, and
    ``payload`` (the fields exactly as received)."""
    event = catalog.find(inbound.event_type)
    return {
        "event": {
            **inbound.as_payload(),
            "name": inbound.event_name,
            "title": friendly_title(inbound.event_name),
            "summary": event.summary if event else "",
            "link": link,
            "time": inbound.created_at,
        },
        "enrichment": dict(enrichment),
        "payload": inbound.as_payload(),
    }


def default_text(ctx: Mapping[str, Any]) -> str:
    event = ctx["event"]
    name = event["resource_name"] or event["resource_luid"] or "(unnamed)"
    return f"{event['title']}: {name}"


def slack(ctx: Mapping[str, Any], text: str) -> dict[str, Any]:
    event = ctx["event"]
    fields = [
        {"type": "mrkdwn", "text": f"*Event*\n{event['name']}"},
        {"type": "mrkdwn", "text": f"*Resource*\n{event['resource_name'] or '-'}"},
        {"type": "mrkdwn", "text": f"*Site*\n{event['site_luid'] or '-'}"},
        {"type": "mrkdwn", "text": f"*Time*\n{event['time'] or '-'}"},
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {"type": "section", "fields": fields},
    ]
    if event["link"]:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": f"<{event['link']}|Open>"}}
        )
    return {"text": text, "blocks": blocks}


def teams(ctx: Mapping[str, Any], text: str) -> dict[str, Any]:
    event = ctx["event"]
    facts = [
        {"title": "Event", "value": event["name"]},
        {"title": "Resource", "value": event["resource_name"] or "-"},
        {"title": "Site", "value": event["site_luid"] or "-"},
        {"title": "Time", "value": event["time"] or "-"},
    ]
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {"type": "TextBlock", "text": text, "weight": "Bolder", "size": "Medium", "wrap": True},
            {"type": "FactSet", "facts": facts},
        ],
    }
    if event["link"]:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open", "url": event["link"]}]
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


def ifttt(ctx: Mapping[str, Any], text: str | None) -> dict[str, str]:
    event = ctx["event"]
    value3 = text or event["link"] or f"site {event['site_luid']} at {event['time']}"
    return {"value1": event["name"], "value2": event["resource_name"], "value3": value3}


def body(target_type: str, ctx: Mapping[str, Any], rendered: str | None) -> str:
    """The request body of one target, given its rendered template (or ``None``)."""
    if target_type == "http":
        return rendered if rendered is not None else json.dumps(ctx["payload"])
    text = rendered.strip() if rendered else None
    if target_type == "slack":
        shaped: Mapping[str, Any] = slack(ctx, text or default_text(ctx))
    elif target_type == "teams":
        shaped = teams(ctx, text or default_text(ctx))
    else:
        shaped = ifttt(ctx, text)
    return json.dumps(shaped)


def normalise_events(names: Sequence[str]) -> tuple[str, ...]:
    """Friendly names for a filter, accepting either spelling; unknown names raise."""
    return tuple(catalog.lookup(name).name for name in names)
