"""The docs-test harness's needs, and what it ran and did not, printed at the end of a run."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.docs.harness import RESULTS, TOURS, missing_tools


@pytest.fixture(scope="session")
def reader_tools() -> None:
    """Without bash and curl the examples cannot run: skipped on a developer's machine, a
    failure under CI."""
    missing = missing_tools()
    if missing and os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"the docs' examples cannot run under CI: {missing}")
    if missing:
        pytest.skip(f"the docs' examples are not run: {missing}")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Skipped examples stay visible: every page's counts and each skip with its reason."""
    if not RESULTS and not TOURS:
        return
    terminalreporter.section("docs examples")
    for result in RESULTS:
        terminalreporter.write_line(result.summary())
    for tour in TOURS:
        terminalreporter.write_line(tour)
