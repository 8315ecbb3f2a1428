"""Tables at any width: ids and URLs are never broken; other columns fold first (issue 16)."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from tabhooks.cli import output

ID = "msg_01M84Z8SWSYNMG88KSR290AEP1"
URL = "http://127.0.0.1:8000/inbox/bin_Kb_cZE5k8SVcXXBveIx_kA"
COLUMNS = ("delivery", "webhook", "event", "url", "status")


def _render(width: int, rows: list[tuple[str, ...]], monkeypatch: pytest.MonkeyPatch) -> str:
    console = Console(width=width, record=True, highlight=False, color_system=None)
    monkeypatch.setattr(output, "console", console)
    with console.capture() as captured:
        output.table(None, COLUMNS, rows, keep=(0, 3))
    return captured.get()


def _unbroken(text: str, *tokens: str) -> bool:
    return all(any(token in line for line in text.splitlines()) for token in tokens)


@pytest.mark.parametrize("width", [40, 80, 100, 120, 200])
def test_ids_and_urls_stay_whole_at_any_width(width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [(ID, "a webhook with a rather long name", "DatasourceRefreshFailed", URL, "failed")]
    text = _render(width, rows, monkeypatch)
    assert _unbroken(text, ID, URL), text
    # A table fits the width (a block's lines are not cut: the terminal wraps them).
    assert all(len(line) <= width for line in text.splitlines() if set("┃│") & set(line)), text


def test_other_columns_fold_first_when_the_table_still_fits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = [(ID, "a webhook with a rather long name", "DatasourceRefreshFailed", URL, "ok")]
    text = _render(150, rows, monkeypatch)
    assert "┃ delivery" in text  # still a table
    assert _unbroken(text, ID, URL)
    assert "a webhook with a rather long name" not in text  # the name column wrapped instead


def test_too_narrow_for_a_table_gives_one_block_per_row(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [(ID, "hook", "WorkbookCreated", URL, "ok"), (ID[:-1] + "2", "b", "e", URL, "ok")]
    text = _render(80, rows, monkeypatch)
    assert "┃" not in text
    blocks = text.strip().split("\n\n")
    assert len(blocks) == 2
    assert blocks[0].splitlines()[0].split() == ["delivery", ID]
    assert f"url       {URL}" in blocks[0]


def test_cells_are_escaped_in_either_layout(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [(ID, "\x1b[2J[bold]x[/]", "e", URL, "ok")]
    for width in (80, 200):
        text = _render(width, rows, monkeypatch)
        assert "\x1b" not in text and "\\x1b[2J[bold]x[/]" in text


def test_list_commands_answer_json_an_empty_line_or_a_table(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``list_items`` is every list command's answer: ``--json`` prints the items as they came,
    an empty list says how to make one (or shows an empty table), else one row per item."""
    console = Console(width=200, record=True, highlight=False, color_system=None)
    monkeypatch.setattr(output, "console", console)
    items = [{"id": ID, "url": URL}]

    def listed(found: list[dict[str, str]], as_json: bool, empty: str | None) -> str:
        with console.capture() as captured:
            output.list_items(
                found, as_json, ("id", "url"), lambda i: (i["id"], i["url"]), empty=empty
            )
        return captured.get() + capsys.readouterr().out

    assert json.loads(listed(items, True, "none yet")) == items
    assert json.loads(listed([], True, "none yet")) == []
    assert listed([], False, "None yet: create one.").strip() == "None yet: create one."
    assert "┃ id" in listed([], False, None)  # no line given: the empty table
    shown = listed(items, False, "none yet")
    assert "┃ id" in shown and ID in shown and URL in shown and "none yet" not in shown
