"""Every shell and Python example of README.md and docs/ runs as written on a fresh server.

One test per page (new pages are picked up by themselves); see ``harness.py`` for how a page
is run and ``blocks.py`` for the markers a page may use to keep a block from running.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.blocks import pages
from tests.docs.harness import RESULTS, ROOT, run_page


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "page", [p.relative_to(ROOT).as_posix() for p in pages(ROOT)], ids=lambda p: str(p)
)
@pytest.mark.usefixtures("reader_tools")
def test_examples_run_as_written(page: str, tmp_path: Path) -> None:
    result = run_page(page, (ROOT / page).read_text(), tmp_path)
    RESULTS.append(result)
    print(result.summary())
