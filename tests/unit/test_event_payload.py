"""The payload's bytes are exactly ``json.dumps`` of Tableau's six fields, whatever the names."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tabhooks import events

AWKWARD_NAMES = [
    "Sales",
    'quote " and backslash \\',
    "tab\tnewline\ncarriage\rbell\x07nul\x00",
    "Ünïcödé \u2013 売上 📈",
    "lone surrogate \ud800 end",
    "</script><b>",
    "",
]


@pytest.mark.parametrize("name", AWKWARD_NAMES)
@pytest.mark.parametrize(
    "event_name", ["WorkbookCreated", "DatasourceRefreshFailed", "AdminPromoted"]
)
def test_payload_equals_the_json_encoder_output(name: str, event_name: str) -> None:
    event = events.BY_NAME[event_name]
    created = datetime(2026, 11, 29, 15, 4, 5, tzinfo=timezone(timedelta(hours=-8)))
    occurrence = events.Occurrence(
        event=event,
        resource=event.resource,
        resource_name=name,
        resource_luid=f"luid-{name}",
        site_luid="site-" + name[:3],
        created_at=created,
    )
    expected = json.dumps(
        {
            "resource": str(event.resource),
            "event_type": event.name,
            "resource_name": name,
            "site_luid": "site-" + name[:3],
            "resource_luid": f"luid-{name}",
            "created_at": "2026-11-29T23:04:05Z",
        },
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode(errors="surrogatepass" if "\ud800" in name else "strict")
    if "\ud800" in name:
        with pytest.raises(UnicodeEncodeError):
            events.payload(occurrence)
        return
    assert events.payload(occurrence) == expected
    assert json.loads(expected)["created_at"] == "2026-11-29T23:04:05Z"


def test_payload_of_a_utc_time_has_no_fraction() -> None:
    event = events.BY_NAME["WorkbookCreated"]
    occurrence = events.Occurrence(
        event=event,
        resource=event.resource,
        resource_name="n",
        resource_luid="l",
        site_luid="s",
        created_at=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
    )
    assert json.loads(events.payload(occurrence))["created_at"] == "2026-01-02T03:04:05Z"


def test_consecutive_events_with_different_times_each_get_their_own() -> None:
    """The last formatted time is reused; a different time must never get it."""
    event = events.BY_NAME["WorkbookCreated"]

    def created(moment: datetime) -> str:
        occurrence = events.Occurrence(
            event=event, resource=event.resource, resource_name="n", resource_luid="l",
            site_luid="s", created_at=moment,
        )  # fmt: skip
        return str(json.loads(events.payload(occurrence))["created_at"])

    first = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    second = datetime(2026, 1, 2, 3, 4, 6, tzinfo=UTC)
    assert created(first) == "2026-01-02T03:04:05Z"
    assert created(second) == "2026-01-02T03:04:06Z"
    assert created(first) == "2026-01-02T03:04:05Z"
    assert created(first.astimezone(timezone(timedelta(hours=1)))) == "2026-01-02T03:04:05Z"
