"""Every shell and Python example of README.md and docs/ runs as written on a fresh server.

Each page alone on a fresh server (one test per page; new pages are picked up by themselves),
then all of them in order on one server, as a newcomer tries them. See ``harness.py`` for how a
page is run and ``blocks.py`` for the markers a page may use to keep a block from running.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.docs.blocks import pages
from tests.docs.harness import RESULTS, ROOT, TOURS, run_page, run_tour


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "page", [p.relative_to(ROOT).as_posix() for p in pages(ROOT)], ids=lambda p: str(p)
)
@pytest.mark.usefixtures("reader_tools")
def test_examples_run_as_written(page: str, tmp_path: Path) -> None:
    result = run_page(page, (ROOT / page).read_text(), tmp_path)
    RESULTS.append(result)
    print(result.summary())


@pytest.mark.timeout(600)
@pytest.mark.usefixtures("reader_tools")
def test_the_docs_in_order_on_one_server(tmp_path: Path) -> None:
    """README, then every page, one after the other on one server: no page takes a name
    another page's examples create, or leaves the server in a state the next cannot use."""
    started = time.monotonic()
    results, failures = run_tour(pages(ROOT), tmp_path)
    TOURS.append(
        f"all pages in order on one server: {sum(len(r.ran) for r in results)} examples run "
        f"in {time.monotonic() - started:.1f} s, {len(failures)} page(s) failed"
    )
    assert failures == [], "\n\n".join(
        ["In the tour of the docs on one server (each page alone passes above):", *failures]
    )
    assert [r.page for r in results] == [p.relative_to(ROOT).as_posix() for p in pages(ROOT)]
