"""THE catalog of Tableau webhook events: validation, payloads, docs, CLI and UI read it.

Each event has the friendly name Tableau uses in ``event="..."`` and in payloads'
``event_type`` (``DatasourceRefreshFailed``), the element name of the legacy 3.6 selector
``<webhook-source><webhook-source-event-.../></webhook-source>``, and the ``resource`` its
payload carries. Names are accepted in either spelling, case-insensitively, plus the aliases
Tableau's own docs print (``webhook-source-event-label-LabelDeleted``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from json.encoder import encode_basestring

from tabhooks.errors import UnknownEvent
from tabhooks.tsxml import timestamp


class Resource(StrEnum):
    """The ``resource`` field of a delivery payload."""

    #: A published data source.
    DATASOURCE = "DATASOURCE"
    #: A workbook.
    WORKBOOK = "WORKBOOK"
    #: An extract refresh of a workbook or data source (Tableau's current docs).
    EXTRACTS = "EXTRACTS"
    #: A view (sheet or dashboard) of a workbook.
    VIEW = "VIEW"
    #: A user.
    USER = "USER"
    #: A site.
    SITE = "SITE"
    #: A Tableau Prep flow.
    FLOW = "FLOW"


@dataclass(frozen=True, slots=True)
class Event:
    """One trigger event.

    Args:
        name: the friendly name (``event`` attribute, payload ``event_type``).
        source_element: the legacy ``webhook-source`` child element name.
        resources: the payload ``resource`` values the event can carry; label events carry the
            type of the labelled content, so they have two.
        summary: one line for docs, ``tabhooks events`` and the UI.
        aliases: other spellings accepted on input (never emitted).
    """

    name: str
    source_element: str
    resources: tuple[Resource, ...]
    summary: str
    aliases: tuple[str, ...] = ()

    @property
    def resource(self) -> Resource:
        """The default payload resource (the first of :attr:`resources`)."""
        return self.resources[0]


_DS, _WB, _EX = Resource.DATASOURCE, Resource.WORKBOOK, Resource.EXTRACTS

CATALOG: tuple[Event, ...] = (
    Event("DatasourceRefreshStarted", "webhook-source-event-datasource-refresh-started", (_EX,),
          "A data source extract refresh started."),
    Event("DatasourceRefreshSucceeded", "webhook-source-event-datasource-refresh-succeeded", (_EX,),
          "A data source extract refresh finished successfully."),
    Event("DatasourceRefreshFailed", "webhook-source-event-datasource-refresh-failed", (_EX,),
          "A data source extract refresh failed."),
    Event("DatasourceUpdated", "webhook-source-event-datasource-updated", (_DS,),
          "A data source was republished or its properties changed."),
    Event("DatasourceCreated", "webhook-source-event-datasource-created", (_DS,),
          "A new data source was published."),
    Event("DatasourceDeleted", "webhook-source-event-datasource-deleted", (_DS,),
          "A data source was deleted."),
    Event("WorkbookUpdated", "webhook-source-event-workbook-updated", (_WB,),
          "A workbook was republished or its properties changed."),
    Event("WorkbookCreated", "webhook-source-event-workbook-created", (_WB,),
          "A new workbook was published."),
    Event("WorkbookDeleted", "webhook-source-event-workbook-deleted", (_WB,),
          "A workbook was deleted."),
    Event("WorkbookRefreshStarted", "webhook-source-event-workbook-refresh-started", (_EX,),
          "A workbook extract refresh started."),
    Event("WorkbookRefreshSucceeded", "webhook-source-event-workbook-refresh-succeeded", (_EX,),
          "A workbook extract refresh finished successfully.",
          aliases=("webhook-source-event-workbook-refresh-succeededed",)),
    Event("WorkbookRefreshFailed", "webhook-source-event-workbook-refresh-failed", (_EX,),
          "A workbook extract refresh failed."),
    Event("ViewDeleted", "webhook-source-event-view-deleted", (Resource.VIEW,),
          "A view was removed (its workbook was deleted or republished without it)."),
    Event("AdminPromoted", "webhook-event-user-promoted-admin", (Resource.USER,),
          "A user's site role was changed to site administrator."),
    Event("AdminDemoted", "webhook-event-user-demoted-admin", (Resource.USER,),
          "A user's site role was changed from site administrator."),
    Event("LabelCreated", "webhook-source-event-label-created", (_DS, _WB),
          "A data quality warning or label was added to a data source or workbook."),
    Event("LabelUpdated", "webhook-source-event-label-updated", (_DS, _WB),
          "A data quality warning or label was changed."),
    Event("LabelDeleted", "webhook-source-event-label-deleted", (_DS, _WB),
          "A data quality warning or label was removed.",
          aliases=("webhook-source-event-label-LabelDeleted",)),
    Event("SiteCreated", "webhook-source-event-site-created", (Resource.SITE,),
          "A site was created."),
    Event("SiteUpdated", "webhook-source-event-site-updated", (Resource.SITE,),
          "A site's settings changed."),
    Event("SiteDeleted", "webhook-source-event-site-deleted", (Resource.SITE,),
          "A site was deleted."),
    Event("UserDeleted", "webhook-source-event-user-deleted", (Resource.USER,),
          "A user was removed from the site."),
    Event("FlowCompleted", "webhook-source-event-flow-completed", (Resource.FLOW,),
          "A Tableau Prep flow run finished."),
)  # fmt: skip

_BY_KEY: dict[str, Event] = {}
for _event in CATALOG:
    for _key in (_event.name, _event.source_element, *_event.aliases):
        _BY_KEY[_key.lower()] = _event
BY_NAME: dict[str, Event] = {event.name: event for event in CATALOG}


def find(name: str) -> Event | None:
    """The event named ``name`` in any accepted spelling, or ``None``."""
    return _BY_KEY.get(name.strip().lower())


def lookup(name: str) -> Event:
    """Like :func:`find`, but an unknown name is a 400 listing every valid name."""
    event = find(name)
    if event is None:
        valid = ", ".join(f"{e.name} ({e.source_element})" for e in CATALOG)
        raise UnknownEvent(f"'{name}' is not a webhook event. Valid events: {valid}.")
    return event


@dataclass(frozen=True, slots=True)
class Occurrence:
    """Something that happened, about to become one payload per matching webhook."""

    event: Event
    resource: Resource
    resource_name: str
    resource_luid: str
    site_luid: str
    created_at: datetime


def payload(occurrence: Occurrence) -> bytes:
    """The exact bytes Tableau posts: the same for every retry of every delivery.

    That is ``json.dumps`` of the six fields in this order with ``separators=(",", ":")`` and
    ``ensure_ascii=False``; it is written out with the quoting function ``json.dumps`` itself
    uses for those options, because one payload is built per event emitted and the generic
    encoder took twice as long (a test compares the two).
    """
    q = encode_basestring
    return (
        f'{{"resource":{q(str(occurrence.resource))},'
        f'"event_type":{q(occurrence.event.name)},'
        f'"resource_name":{q(occurrence.resource_name)},'
        f'"site_luid":{q(occurrence.site_luid)},'
        f'"resource_luid":{q(occurrence.resource_luid)},'
        f'"created_at":{q(_created_text(occurrence.created_at))}}}'
    ).encode()


@functools.lru_cache(maxsize=64)
def _created_text(moment: datetime) -> str:
    """:func:`timestamp`, cached: events emitted together share their second."""
    return str(timestamp(moment))
