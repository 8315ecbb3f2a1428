"""Recognising a Tableau webhook payload among captured requests.

Tableau (and tabhooks) POST a flat JSON object with ``event_type``, ``resource``,
``resource_name``, ``resource_luid``, ``site_luid`` and ``created_at``. Seeing one, the
inspector shows the event as a badge and links the resource in the REST API, so the next step
when debugging (what is that workbook?) is one click or one curl away. Events missing from
our catalog are still recognised, since Tableau adds events before we do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from tabhooks import events
from tabhooks.config import REST_API_VERSION

_REQUIRED = ("event_type", "resource", "resource_luid")
#: REST collection of each payload resource; EXTRACTS is decided by the event's prefix.
_COLLECTION = {
    "WORKBOOK": "workbooks",
    "DATASOURCE": "datasources",
    "VIEW": "views",
    "USER": "users",
    "FLOW": "flows",
}


@dataclass(frozen=True, slots=True)
class TableauEvent:
    """What a Tableau payload says, plus where to look the resource up."""

    event_type: str
    resource: str
    resource_name: str
    resource_luid: str
    site_luid: str
    created_at: str
    #: The catalog's one-line description; ``None`` for an event tabhooks does not know.
    summary: str | None
    #: ``/api/{version}/...`` path of the resource, when the payload says enough to build it.
    rest_path: str | None


def _rest_path(event_type: str, resource: str, site: str, luid: str) -> str | None:
    base = f"/api/{REST_API_VERSION}/sites"
    if resource == "SITE":
        return f"{base}/{luid}" if luid else None
    if not site or not luid:
        return None
    collection = _COLLECTION.get(resource)
    if resource == "EXTRACTS":
        if event_type.startswith("Datasource"):
            collection = "datasources"
        elif event_type.startswith("Workbook"):
            collection = "workbooks"
    return f"{base}/{site}/{collection}/{luid}" if collection else None


def recognise(body: bytes) -> TableauEvent | None:
    """The Tableau event in ``body``, or ``None`` when it is not a Tableau payload."""
    if not body.lstrip().startswith(b"{"):
        return None
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    if not isinstance(payload, dict) or not all(
        isinstance(payload.get(key), str) and payload[key] for key in _REQUIRED
    ):
        return None
    fields = {
        key: str(payload.get(key) or "")
        for key in (
            "event_type",
            "resource",
            "resource_name",
            "resource_luid",
            "site_luid",
            "created_at",
        )
    }
    known = events.find(fields["event_type"])
    summary = known.summary if known else None
    return TableauEvent(
        **fields,
        summary=summary,
        rest_path=_rest_path(
            fields["event_type"], fields["resource"], fields["site_luid"], fields["resource_luid"]
        ),
    )
