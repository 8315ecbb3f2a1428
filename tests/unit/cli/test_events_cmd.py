"""Event names typed by people: either spelling, any case, and a suggestion for near misses."""

from __future__ import annotations

import pytest
import typer

from tabhooks.cli.events_cmd import parse_event, suggestions


@pytest.mark.parametrize(
    "name",
    [
        "WorkbookCreated",
        "workbookcreated",
        "webhook-source-event-workbook-created",
        " WORKBOOKCREATED ",
    ],
)
def test_parse_event_accepts_every_spelling(name: str) -> None:
    assert parse_event(name).name == "WorkbookCreated"


@pytest.mark.parametrize(
    ("typo", "best"),
    [
        ("WorkbookCreatd", "WorkbookCreated"),
        ("DatasourceRefreshFail", "DatasourceRefreshFailed"),
        ("webhook-source-event-view-delted", "ViewDeleted"),
    ],
)
def test_suggestions_put_the_nearest_event_first(typo: str, best: str) -> None:
    assert suggestions(typo)[0] == best


def test_parse_event_unknown_is_a_usage_error_naming_the_catalog() -> None:
    with pytest.raises(typer.BadParameter, match="Did you mean WorkbookCreated"):
        parse_event("WorkbookCreatd")
    with pytest.raises(typer.BadParameter, match="tabhooks events"):
        parse_event("zzz")
