"""Run a page's examples as a reader would: in order, in one shell, against a fresh server.

For each page the harness

- starts a real ``tabhooks serve`` (README's quick start, ``TABHOOKS_ADMIN_PASSWORD=change-me
  --dev``, or what the page's ``docs-test: server`` block says) on a free port, in an empty
  folder that stands for the reader's clone: ``docs/`` (the samples) and ``.venv`` are linked
  there, and the server's ``tabhooks.db`` is created there, so ``tabhooks admin`` commands in
  the examples find it as they would beside ``./scripts/serve``;
- rewrites the address every example uses, ``http://127.0.0.1:8000``, to that server's;
- runs the shell blocks in document order in one ``bash`` (``set -euo pipefail``: a failing
  command or an unset variable fails the page, and variables defined by one block are seen by
  the next, as in the reader's terminal), and each Python block with the ``.venv``'s python
  (TSC installed), which sees the variables the shell exported;
- checks that a block marked ``file`` is the repository's file it shows (the page's examples
  run that file, so the copy the reader sees must be it);
- makes curl fail on an HTTP error (a ``.curlrc`` with ``fail-with-body`` in the reader's
  stand-in home folder), so an example answered 4xx or 5xx fails instead of printing the error;
- puts ``.venv/bin`` on ``PATH`` for every page but the README, which must tell the reader how
  to get the ``tabhooks`` command (the README's own block does it).

Then ``run_tour`` runs every page again, README first, on one server and in one folder, as a
newcomer tries them one after the other (a new terminal per page; the server restarted, on the
same port and store, where a page's server block starts it differently): two pages' examples
that take the same name, or a page that leaves something behind that breaks the next (a
webhook whose deliveries keep failing), fail there.

Every command's output is kept; a failure reports the page, the block, its code, what it
printed and the end of the server's log.
"""

from __future__ import annotations

import difflib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.docs.blocks import Block, ServerSpec, parse, server_spec
from tests.support.server import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
#: The address the docs use for the server; replaced by the test server's.
DOCS_BASE_URL = "http://127.0.0.1:8000"
PAGE_TIMEOUT_S = 120.0
#: curl options for every example: an HTTP error fails the command (its body still printed),
#: and nothing hangs.
CURLRC = "fail-with-body\nshow-error\nconnect-timeout = 10\nmax-time = 60\n"
_SECTION = "::: docs-test block "


@dataclass
class PageResult:
    """What running one page's examples did."""

    page: str
    blocks: list[Block]
    ran: list[Block] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def runnable(self) -> list[Block]:
        return [b for b in self.blocks if b.runnable]

    @property
    def skipped(self) -> list[Block]:
        return [b for b in self.runnable if not b.runs]

    def summary(self) -> str:
        """One line a page, then one per marked block with its reason."""
        lines = [
            f"{self.page}: {len(self.runnable)} example(s), {len(self.ran)} run, "
            f"{len(self.skipped)} not run ({self.seconds:.1f} s)"
        ]
        # Every marked block, with its reason: skips, the server, errors shown on purpose.
        for block in self.runnable:
            if block.marker is not None:
                reason = block.marker.reason or "the harness starts this server itself"
                lines.append(f"    {block.where} {block.marker.kind}: {reason}")
        return "\n".join(lines)


#: Every page run in this session, for the summary printed at the end (see conftest.py).
RESULTS: list[PageResult] = []
#: One line per tour of all pages on one server (``run_tour``), for the same summary.
TOURS: list[str] = []


class ExampleFailed(AssertionError):
    """An example of the docs did not run as written."""


def missing_tools() -> str | None:
    """What a reader's terminal needs for the examples and this machine lacks, if anything:
    bash, and a curl new enough for ``--fail-with-body`` (7.76), without which an HTTP error
    would pass unnoticed."""
    if shutil.which("bash") is None:
        return "bash is not installed"
    if shutil.which("curl") is None:
        return "curl is not installed (the examples use it)"
    manual = subprocess.run(["curl", "--help", "all"], capture_output=True, text=True).stdout
    if "--fail-with-body" not in manual:
        return "curl is older than 7.76 (no --fail-with-body)"
    return None


def venv_dir() -> Path:
    """The virtual environment a reader gets from ``./scripts/serve``: the clone's ``.venv``,
    else the one running the tests."""
    clone = ROOT / ".venv"
    return clone if (clone / "bin" / "python").exists() else Path(sys.prefix)


def run_page(
    page: str, text: str, workdir: Path, server: ServerProcess | None = None
) -> PageResult:
    """Run every example of one page, in a new terminal, against its own fresh server.

    Args:
        page: the page's name relative to the repository (``docs/cli.md``).
        text: its Markdown.
        workdir: an empty folder, the reader's clone for this page.
        server: a running server to use instead (the harness's own tests share one); the
            page's server block is then not read.

    Raises:
        ExampleFailed: an example failed, or the page took longer than ``PAGE_TIMEOUT_S``.
    """
    blocks = parse(text, page)
    result = PageResult(page, blocks)
    check_shown_files(blocks, ROOT)
    to_run = [b for b in blocks if b.runs]
    if not to_run:
        return result
    started = time.monotonic()
    _prepare(workdir)
    own = server is None
    if server is None:
        server_blocks = [b for b in blocks if b.marker and b.marker.kind == "server"]
        server = start_server(server_spec(server_blocks[0] if server_blocks else None), workdir)
    try:
        result.ran = _run_blocks(page, to_run, workdir, server)
    finally:
        if own:
            server.stop()
        result.seconds = time.monotonic() - started
    return result


def check_shown_files(blocks: list[Block], root: Path) -> None:
    """Every ``file`` block is the file it says it shows, character for character.

    Raises:
        ExampleFailed: a block's file is missing, or the block differs from it (the start of
            the difference is shown).
    """
    for block in blocks:
        shown = block.shows_file
        if shown is None:
            continue
        path = root / shown
        if not path.is_file():
            raise ExampleFailed(f"{block.where}: this block shows {shown}, which does not exist")
        actual = path.read_text()
        if actual != block.code:
            diff = difflib.unified_diff(
                actual.splitlines(keepends=True),
                block.code.splitlines(keepends=True),
                shown,
                f"{block.where} (the page's copy)",
            )
            raise ExampleFailed(
                f"{block.where}: this block shows {shown} but is not the same; copy the file "
                f"into the page again.\n{''.join(list(diff)[:60])}"
            )


def run_tour(paths: list[Path], workdir: Path) -> tuple[list[PageResult], list[str]]:
    """README, then every page in order, as one newcomer would try them: one folder, one home,
    one server — started as README's quick start says and restarted (same store) as a page's
    server block says — and a new terminal for each page.

    This is where two pages' examples meet: a name one page takes that another creates again
    fails here, not in ``run_page``'s fresh servers.

    Returns:
        Each page's result, and the failures (one message per page that failed).
    """
    _prepare(workdir)
    current = server_spec(None)
    server = start_server(current, workdir)
    results: list[PageResult] = []
    failures: list[str] = []
    try:
        for path in paths:
            page = path.relative_to(ROOT).as_posix()
            text = path.read_text()
            marked = [b for b in parse(text, page) if b.marker and b.marker.kind == "server"]
            wanted = server_spec(marked[0]) if marked else current
            if wanted != current:  # the reader restarts the server as the page says
                port = server.base_url.rsplit(":", 1)[1]
                server.stop()
                current = wanted
                # On the same port, as the reader's 8000: what the store holds keeps working.
                server = start_server(current, workdir, port)
            try:
                results.append(run_page(page, text, workdir, server))
            except ExampleFailed as failed:
                failures.append(str(failed))
    finally:
        server.stop()
    return results, failures


def output_of(workdir: Path, page: str) -> str:
    """What a page's examples printed, with a ``::: docs-test block N`` line before each."""
    return (_scratch(workdir, page) / "output.txt").read_text(errors="replace")


def _scratch(workdir: Path, page: str) -> Path:
    """Where the harness keeps a page's scripts and output, out of the examples' way."""
    return workdir / ".docs-test" / page.replace("/", "_")


def _prepare(workdir: Path) -> None:
    """The reader's clone, as far as examples read it, and a home folder of theirs."""
    if not (workdir / "docs").exists():
        (workdir / "docs").symlink_to(ROOT / "docs", target_is_directory=True)
    if not (workdir / ".venv").exists():
        (workdir / ".venv").symlink_to(venv_dir(), target_is_directory=True)
    home = workdir / ".docs-test" / "home"
    home.mkdir(parents=True, exist_ok=True)
    (home / ".curlrc").write_text(CURLRC)


def start_server(spec: ServerSpec, workdir: Path, port: str = "0") -> ServerProcess:
    """A server as ``spec`` says, its store (the default ``tabhooks.db``) in ``workdir``, on
    ``port`` (any free one by default)."""
    env = {
        **spec.env,
        # No token of the test suite's: the page sees the server a reader's quick start makes.
        "TABHOOKS_ADMIN_PAT_NAME": "",
        "TABHOOKS_ADMIN_PAT_SECRET": "",
    }
    args = (*spec.args, "--port", port)  # after ServerProcess's own --port 0: this one counts
    return ServerProcess("sqlite:///tabhooks.db", workdir, extra_env=env, args=args).start()


def _environment(page: str, workdir: Path) -> dict[str, str]:
    """A reader's terminal: no TABHOOKS_* settings, a home of their own, and ``.venv/bin`` on
    ``PATH`` once the README has said how to get it there."""
    home = workdir / ".docs-test" / "home"
    venv_bin = str(venv_dir() / "bin")
    path = [p for p in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep) if p != venv_bin]
    if page != "README.md":
        path.insert(0, venv_bin)
    keep = ("LANG", "LC_ALL", "TMPDIR", "TZ")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        PATH=os.pathsep.join(path),
        HOME=str(home),
        CURL_HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        TERM="dumb",
        PYTHONUNBUFFERED="1",
        DOCS_TEST_PYTHON=str(venv_dir() / "bin" / "python"),
    )
    env.setdefault("LANG", "C.UTF-8")
    return env


def _script(page: str, blocks: list[Block], workdir: Path, base_url: str) -> str:
    """One bash script: each block written to a file, then sourced (shell) or run (Python)."""
    folder = _scratch(workdir, page)
    lines = [
        "set -euo pipefail",
        f"cd {_quote(str(workdir))}",
        f"__docs_test_status={_quote(str(folder / 'status'))}",
    ]
    for number, block in enumerate(blocks, 1):
        suffix = "py" if block.is_python else "sh"
        path = folder / f"block-{number:02d}.{suffix}"
        path.write_text(block.code.replace(DOCS_BASE_URL, base_url))
        lines.append(f"printf '%s\\n' {number} > \"$__docs_test_status\"")
        lines.append(f"printf '\\n{_SECTION}{number}\\n'")
        if block.is_python:
            lines.append(f'"$DOCS_TEST_PYTHON" {_quote(str(path))}')
        elif block.marker is not None and block.marker.kind == "expect-http-error":
            lines.extend(_expecting_http_errors(path, folder / f"http-errors-{number:02d}"))
        else:
            lines.append(f"source {_quote(str(path))}")
    lines.append("printf 'done\\n' > \"$__docs_test_status\"")
    return "\n".join(lines) + "\n"


def _expecting_http_errors(path: Path, record: Path) -> list[str]:
    """Source a block whose curl commands may be answered with an HTTP error (curl's exit
    status 22 under ``fail-with-body``), and fail unless one of them was: each such answer is
    noted in ``record``, a file, since a ``$(...)`` runs in a subshell."""
    return [
        f": > {_quote(str(record))}",
        "curl() {",
        '  local status=0; command curl "$@" || status=$?',
        f"  if [ $status -eq 22 ]; then echo 22 >> {_quote(str(record))}; return 0; fi",
        "  return $status",
        "}",
        f"source {_quote(str(path))}",
        "unset -f curl",
        f"if [ ! -s {_quote(str(record))} ]; then",
        "  echo 'docs-test: expect-http-error, but no request of this example was answered"
        " with an HTTP error' >&2; exit 1",
        "fi",
    ]


def _run_blocks(
    page: str, blocks: list[Block], workdir: Path, server: ServerProcess
) -> list[Block]:
    folder = _scratch(workdir, page)
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "page.sh"
    script.write_text(_script(page, blocks, workdir, server.base_url))
    output = folder / "output.txt"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            ["bash", str(script)],
            cwd=workdir,
            env=_environment(page, workdir),
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            code: int | None = process.wait(PAGE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            code = None
        finally:
            _end_group(process)
    status = (folder / "status").read_text().strip() if (folder / "status").exists() else "0"
    if code == 0 and status == "done":
        return blocks
    failed = blocks[int(status) - 1] if status.isdigit() and int(status) >= 1 else blocks[0]
    printed = _section(output.read_text(errors="replace"), blocks.index(failed) + 1)
    why = f"timed out after {PAGE_TIMEOUT_S:.0f} s" if code is None else f"exit status {code}"
    raise ExampleFailed(
        f"{failed.where}: this {failed.language} example failed ({why}); examples run in "
        f"order against {server.base_url}, which the page calls {DOCS_BASE_URL}.\n"
        f"--- the example ---\n{failed.code}"
        f"--- what it printed ---\n{printed[-6000:]}\n"
        f"--- the server's last lines ---\n{''.join(server.output[-30:])}"
    )


def _section(output: str, number: int) -> str:
    marker = f"{_SECTION}{number}\n"
    return output.split(marker, 1)[1] if marker in output else output


def _end_group(process: subprocess.Popen[bytes]) -> None:
    """End the page's shell and anything an example left running in the background."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            continue
        if sig == signal.SIGTERM:
            time.sleep(0.2)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"
