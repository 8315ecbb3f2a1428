"""The code stays ``ruff check`` and ``ruff format`` clean: CI runs only the test command."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _ruff() -> list[str]:
    local = Path(sys.executable).with_name("ruff")
    if local.exists():
        return [str(local)]
    found = shutil.which("ruff")
    if found is None:
        pytest.fail("ruff is not installed; install the dev extras (scripts/test does)")
    return [found]


@pytest.mark.parametrize("args", [["check"], ["format", "--check"]], ids=["check", "format"])
def test_ruff_clean(args: list[str]) -> None:
    result = subprocess.run(
        [*_ruff(), *args, "src", "tests", "bench"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_clean() -> None:
    """``mypy --strict`` (configured in pyproject.toml, with pydantic's plugin) finds nothing."""
    result = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_layers_hold() -> None:
    """The contracts in pyproject.toml's ``[tool.importlinter]`` hold: ``lint-imports`` passes
    (cli, web and api above services, inbox, relay and jobs, above delivery, above the store,
    above events, tsxml, errors, models, the clock and the Tableau client and profiles, which
    import neither Typer nor Rich)."""
    local = Path(sys.executable).with_name("lint-imports")
    found = str(local) if local.exists() else shutil.which("lint-imports")
    if found is None:
        pytest.fail("import-linter is not installed; install the dev extras (scripts/test does)")
    result = subprocess.run(
        [found, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
