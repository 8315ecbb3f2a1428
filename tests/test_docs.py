"""The docs keep up with the code: every setting, event and command is documented."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from tabhooks import events
from tabhooks.cli.main import app
from tabhooks.config import Settings

ROOT = Path(__file__).resolve().parents[1]


def _read(relative: str) -> str:
    return (ROOT / relative).read_text()


def test_every_setting_is_documented() -> None:
    text = _read("docs/configuration.md")
    missing = [n for n in Settings.model_fields if f"TABHOOKS_{n.upper()}" not in text]
    assert missing == []


def test_every_event_is_documented() -> None:
    text = _read("docs/events.md")
    for event in events.CATALOG:
        assert f"`{event.name}`" in text and f"`{event.source_element}`" in text


def test_readme_commands_exist() -> None:
    readme = _read("README.md")
    for script in ("scripts/serve", "scripts/test"):
        assert f"./{script}" in readme
        assert (ROOT / script).stat().st_mode & 0o111
    assert "exec ./scripts/test" in _read(".ci/run")


def test_every_error_code_is_documented() -> None:
    from tabhooks import errors

    text = _read("docs/errors.md")
    codes = {
        cls.code
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.TableauError)
    }
    assert sorted(c for c in codes if c not in text) == []


def test_every_cli_command_is_documented() -> None:
    def paths(command: Any, prefix: str) -> list[str]:
        subs = getattr(command, "commands", None)  # a group (Typer vendors its own Click)
        if subs:
            return [p for n, c in subs.items() for p in paths(c, f"{prefix} {n}")]
        return [prefix]

    text = _read("docs/cli.md") + _read("README.md")
    commands = paths(typer.main.get_command(app), "tabhooks")
    assert [c for c in commands if f"`{c}" not in text] == []
