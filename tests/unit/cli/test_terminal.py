"""Foreign text is printed with every terminal control shown as a visible escape."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from rich.console import Console

from tabhooks.cli import output, terminal

HOSTILE = "a\x1b[2J\x1b]52;c;aGk=\x07\x9b31m\x7f\u202eb\u2066\x00"


def test_clean_escapes_c0_c1_del_esc_and_bidi() -> None:
    shown = terminal.clean(HOSTILE)
    assert shown == "a\\x1b[2J\\x1b]52;c;aGk=\\x07\\x9b31m\\x7f\\u202eb\\u2066\\x00"
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in shown)


def test_clean_keeps_lines_and_tabs_only_when_asked() -> None:
    assert terminal.clean("a\nb\tc\r\nd") == "a\\x0ab\\x09c\\x0d\\x0ad"
    assert terminal.clean("a\nb\tc\r\nd\re", lines=True) == "a\nb\tc\nd\\x0de"


def test_clean_keeps_ordinary_unicode() -> None:
    assert terminal.clean("Ventes — été 売上 😀 שלום") == "Ventes — été 売上 😀 שלום"


def test_markup_is_escaped_and_text_is_never_markup() -> None:
    assert terminal.markup("[bold red]x[/]\x1b") == "\\[bold red]x\\[/]\\x1b"
    console = Console(record=True, width=200, color_system=None)
    console.print(terminal.markup("[bold red]x[/]"))
    console.print(terminal.text("[link=https://evil.example]y[/link]"))
    assert console.export_text().splitlines() == [
        "[bold red]x[/]",
        "[link=https://evil.example]y[/link]",
    ]


@pytest.mark.parametrize("emit", [output.emit_json, output.emit_json_line])
def test_json_output_escapes_controls_and_stays_the_same_value(
    emit: Callable[[Any], None], capsys: pytest.CaptureFixture[str]
) -> None:
    data = {"path": HOSTILE, "name": "été"}
    emit(data)
    printed = capsys.readouterr().out
    assert not any((ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) <= 0x9F for c in printed)
    assert "\u202e" not in printed and "été" in printed
    assert json.loads(printed) == data


def test_say_table_and_json_block_print_no_raw_control(capsys: pytest.CaptureFixture[str]) -> None:
    output.say("x ", (HOSTILE, "bold"))
    output.table(None, ("a",), [(HOSTILE,)])
    output.json_block({"k": HOSTILE})
    printed = capsys.readouterr().out
    assert "\x1b" not in printed and "\x07" not in printed and "\x9b" not in printed
    assert "\u202e" not in printed and "\\x1b[2J" in printed
