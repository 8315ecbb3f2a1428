"""The docs-test harness itself: what it finds in a page, and that a broken example fails it.

The parsing tests are pure; the runs share one real server (the harness's own, started as a
page without a server block gets it) and check that an example passes only when it works.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.docs.blocks import Marker, MarkerError, ServerSpec, pages, parse, server_spec
from tests.docs.harness import (
    ROOT,
    ExampleFailed,
    check_shown_files,
    output_of,
    run_page,
    start_server,
)
from tests.support.server import ServerProcess

# -- finding the examples ---------------------------------------------------------------------

PAGE = """# A page

Some text.

```sh
echo one
```

```text
output, never run
```

<!-- docs-test: skip (it follows until Ctrl-C) -->
```sh
tabhooks inbox tail x
```

- a list item with an example:

  ```python
  print("two")
  ```

<!-- a comment that is no marker -->
```bash
echo three
```
"""


def test_blocks_are_found_in_order_with_their_line_language_and_marker() -> None:
    blocks = parse(PAGE, "page.md")
    assert [(b.line, b.language, b.runnable, b.runs) for b in blocks] == [
        (5, "sh", True, True),
        (9, "text", False, False),
        (14, "sh", True, False),
        (20, "python", True, True),
        (25, "bash", True, True),
    ]
    assert blocks[2].marker == Marker("skip", "it follows until Ctrl-C")
    assert blocks[3].code == 'print("two")\n' and blocks[0].where == "page.md:5"


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("<!-- docs-test: skip -->\n```sh\nx\n```\n", "needs its reason"),
        ("<!-- docs-test: skip() -->\n```sh\nx\n```\n", "needs its reason"),
        ("<!-- docs-test: ignore (why) -->\n```sh\nx\n```\n", "unknown docs-test marker"),
        ("<!-- docs-test: skip (why) -->\n\nText between.\n\n```sh\nx\n```\n", "right before"),
        ("<!-- docs-test: skip (why) -->\n```text\nx\n```\n", "never run"),
        ("```sh\nx\n```\n\n<!-- docs-test: skip (why) -->\n", "end of the page"),
        (
            "<!-- docs-test: server -->\n```sh\n./scripts/serve\n```\n"
            "<!-- docs-test: server -->\n```sh\n./scripts/serve --dev\n```\n",
            "more than one",
        ),
    ],
)
def test_a_marker_that_would_do_nothing_is_an_error(text: str, complaint: str) -> None:
    with pytest.raises(MarkerError, match=complaint):
        parse(text, "page.md")


def test_the_server_block_gives_settings_and_flags_but_not_the_address() -> None:
    (block,) = parse(
        "<!-- docs-test: server -->\n```sh\n"
        "TABHOOKS_ADMIN_PASSWORD=s3cret TABHOOKS_DELIVERY_RETRY_SCHEDULE=2s,5s \\\n"
        "  ./scripts/serve --dev --port 8000 --host=0.0.0.0 &   # or your deployment\n```\n",
        "page.md",
    )
    assert server_spec(block) == ServerSpec(
        {"TABHOOKS_ADMIN_PASSWORD": "s3cret", "TABHOOKS_DELIVERY_RETRY_SCHEDULE": "2s,5s"},
        ("--dev",),
    )
    assert server_spec(None) == ServerSpec({"TABHOOKS_ADMIN_PASSWORD": "change-me"}, ("--dev",))
    (other,) = parse("<!-- docs-test: server -->\n```sh\ncurl x\n```\n", "page.md")
    with pytest.raises(MarkerError, match="must start with"):
        server_spec(other)


def test_every_page_of_the_docs_is_covered() -> None:
    covered = {p.relative_to(ROOT).as_posix() for p in pages(ROOT)}
    assert "README.md" in covered
    assert {p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").rglob("*.md")} <= covered


# -- running them -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, reader_tools: None) -> Iterator[ServerProcess]:
    running = start_server(server_spec(None), tmp_path_factory.mktemp("harness-server"))
    yield running
    running.stop()


WORKING = """
```sh
SITE_NAME=docs-test                      # a variable the next blocks see
export GREETING="hello from the shell"
curl -s http://127.0.0.1:8000/tabhooks/v1/health
```

<!-- docs-test: skip (it would fail) -->
```sh
false
```

```python
import os
import urllib.request

print(os.environ["GREETING"])
print(urllib.request.urlopen("http://127.0.0.1:8000/tabhooks/v1/health").status)
```

<!-- docs-test: expect-http-error (an unknown site is 401 without a token) -->
```sh
curl -s "http://127.0.0.1:8000/api/3.28/sites/$SITE_NAME/webhooks"
```

```sh
test "$SITE_NAME" = docs-test && test -f docs/samples/Sales.tds && tabhooks --version
```
"""


def test_a_page_that_works_runs_in_order_in_one_shell(
    shared: ServerProcess, tmp_path: Path
) -> None:
    result = run_page("docs/example.md", WORKING, tmp_path, shared)
    assert [b.line for b in result.ran] == [2, 13, 22, 26]
    assert [b.line for b in result.skipped] == [9]
    printed = output_of(tmp_path, "docs/example.md")
    assert "hello from the shell\n200\n" in printed  # exported to Python, URL rewritten
    assert "docs/example.md:9 skip: it would fail" in result.summary()
    assert "docs/example.md:22 expect-http-error" in result.summary()


@pytest.mark.parametrize(
    ("failing", "why"),
    [
        # curl -s prints Tableau's error and exits 0 in a terminal; here it fails the page.
        ('curl -s "http://127.0.0.1:8000/api/3.28/sites/nowhere/webhooks"', "exit status 22"),
        ('echo "$NEVER_DEFINED"', "exit status 1"),
        ("python3 -c 'import sys; sys.exit(3)'", "exit status 3"),
        (
            "<!-- docs-test: expect-http-error (but none comes) -->\n```sh\n"
            "curl -s http://127.0.0.1:8000/tabhooks/v1/health",
            "no request of this example was answered with an HTTP error",
        ),
    ],
)
def test_a_broken_example_fails_its_page_and_says_which(
    shared: ServerProcess, tmp_path: Path, failing: str, why: str
) -> None:
    block = failing if failing.startswith("<!--") else f"```sh\n{failing}"
    text = f"```sh\necho fine\n```\n\n{block}\n```\n\n```sh\necho never reached\n```\n"
    line = 6 if failing.startswith("<!--") else 5
    with pytest.raises(ExampleFailed, match=why) as failed:
        run_page("docs/broken.md", text, tmp_path, shared)
    assert str(failed.value).startswith(f"docs/broken.md:{line}: this sh example failed")
    assert "never reached" not in output_of(tmp_path, "docs/broken.md")


def test_the_readme_gets_no_tabhooks_on_path_unless_it_says_how(
    shared: ServerProcess, tmp_path: Path
) -> None:
    (tmp_path / "a").mkdir()
    with pytest.raises(ExampleFailed, match="exit status 127"):
        run_page("README.md", "```sh\ntabhooks --version\n```\n", tmp_path / "a", shared)
    (tmp_path / "b").mkdir()
    activated = "```sh\n. .venv/bin/activate\ntabhooks --version\n```\n"
    assert len(run_page("README.md", activated, tmp_path / "b", shared).ran) == 1


def test_markers_are_hidden_on_the_servers_docs_pages() -> None:
    """GitHub hides the markers; /ui/docs, which shows raw HTML as text, leaves them out."""
    from tabhooks.web.projectdocs import render

    html = str(render("Text.\n\n<!-- docs-test: skip (why) -->\n```sh\nfalse\n```\n"))
    assert "docs-test" not in html and '<code class="language-sh">false' in html
    kept = str(render("A comment <!-- in a sentence --> is text, as all HTML here.\n"))
    assert "&lt;!-- in a sentence --&gt;" in kept


# -- blocks that show a file of the repository ------------------------------------------------

SHOWN = "docs/samples/Sales.tds"


def _showing(code: str, language: str = "xml", path: str = SHOWN) -> str:
    return (
        f"<!-- docs-test: file ({path}) -->\n```{language}\n{code}```\n\n```sh\necho after\n```\n"
    )


def test_a_file_block_is_found_with_its_path_and_not_run() -> None:
    shown, after = parse(_showing("print(1)\n", "python"), "page.md")
    assert shown.marker == Marker("file", SHOWN) and shown.shows_file == SHOWN
    assert not shown.runs and after.runs and after.shows_file is None
    # Unlike the other markers, it may stand before a block that is never run.
    (xml, _) = parse(_showing("<x/>\n"), "page.md")
    assert xml.shows_file == SHOWN


@pytest.mark.parametrize("path", ["", "/etc/passwd", "docs/../../secret.py"])
def test_a_file_block_names_a_path_inside_the_repository(path: str) -> None:
    with pytest.raises(MarkerError, match="needs the path"):
        parse(_showing("x\n", path=path), "page.md")


def test_a_file_block_must_be_the_file_it_shows(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "x.py").write_text("print('one')\nprint('two')\n")
    same = parse(_showing("print('one')\nprint('two')\n", "python", "docs/x.py"), "p.md")
    check_shown_files(same, tmp_path)  # nothing to say
    stale = parse(_showing("print('one')\nprint('2')\n", "python", "docs/x.py"), "p.md")
    with pytest.raises(ExampleFailed, match="not the same") as failed:
        check_shown_files(stale, tmp_path)
    assert "-print('two')\n+print('2')" in str(failed.value)
    gone = parse(_showing("x\n", "python", "docs/gone.py"), "p.md")
    with pytest.raises(ExampleFailed, match="does not exist"):
        check_shown_files(gone, tmp_path)


def test_a_page_whose_shown_file_is_stale_fails_before_running(
    shared: ServerProcess, tmp_path: Path
) -> None:
    real = (ROOT / SHOWN).read_text()
    result = run_page("docs/shows.md", _showing(real), tmp_path, shared)
    assert [b.line for b in result.ran] == [2 + real.count("\n") + 3]
    with pytest.raises(ExampleFailed, match=r"docs/stale.md:2: this block shows"):
        run_page("docs/stale.md", _showing(real + "<!-- edited -->\n"), tmp_path, shared)
    assert not (tmp_path / ".docs-test" / "docs_stale.md" / "output.txt").exists()
