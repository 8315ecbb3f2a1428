"""Print what the docs-test harness ran and what it did not, at the end of every run."""

from __future__ import annotations

from typing import Any

from tests.docs.harness import RESULTS


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Skipped examples stay visible: every page's counts and each skip with its reason."""
    if not RESULTS:
        return
    terminalreporter.section("docs examples")
    for result in RESULTS:
        terminalreporter.write_line(result.summary())
