"""``tabhooks events``: the catalog, and the one place event names typed by people are read.

Every command that takes an event accepts either spelling Tableau uses (``WorkbookCreated``
or ``webhook-source-event-workbook-created``), in any case, and answers a near miss with
"did you mean" instead of a server round trip.
"""

from __future__ import annotations

import difflib

import typer

from tabhooks import events
from tabhooks.cli import output
from tabhooks.cli.options import JsonOpt

#: Every accepted spelling, lower-cased, to the event's friendly name.
_SPELLINGS: dict[str, str] = {
    key.lower(): event.name
    for event in events.CATALOG
    for key in (event.name, event.source_element, *event.aliases)
}


def suggestions(name: str) -> list[str]:
    """Friendly names close to ``name`` in any spelling, best first."""
    close = difflib.get_close_matches(name.strip().lower(), list(_SPELLINGS), n=6, cutoff=0.6)
    return list(dict.fromkeys(_SPELLINGS[key] for key in close))[:3]


def parse_event(name: str, param_hint: str = "EVENT") -> events.Event:
    """The catalog event ``name`` names, or a usage error (exit 2) suggesting near names."""
    event = events.find(name)
    if event is not None:
        return event
    near = suggestions(name)
    maybe = f" Did you mean {near[0]}?" if near else ""
    raise typer.BadParameter(
        f"'{name}' is not a webhook event.{maybe} Run 'tabhooks events' for the catalog.",
        param_hint=param_hint,
    )


def event_json(event: events.Event) -> dict[str, object]:
    return {
        "name": event.name,
        "api_name": event.source_element,
        "resources": [r.value for r in event.resources],
        "summary": event.summary,
        "aliases": list(event.aliases),
    }


def events_command(as_json: JsonOpt = False) -> None:
    """List every webhook event: friendly name, API name and payload resource.

    Either name is accepted wherever a command takes an event. The catalog is built in, so
    this needs no login.

    Example: [bold]tabhooks events --json[/]
    """
    if as_json:
        output.emit_json([event_json(e) for e in events.CATALOG])
        return
    output.table(
        None,
        ("event", "API name", "resource", "when"),
        [
            (e.name, e.source_element, " or ".join(r.value for r in e.resources), e.summary)
            for e in events.CATALOG
        ],
        keep=(0, 1),
    )
