"""The runnable examples of a Markdown page: its fenced ``sh`` and ``python`` blocks, in order.

The docs promise that every shell and Python example runs as written. This module finds them
with markdown-it (the parser ``/ui/docs`` renders the same pages with, so a fence is exactly
what readers see as one), together with the one kind of instruction a page may give the
docs-test harness: an HTML comment right before a block,

- ``<!-- docs-test: skip (why) -->`` — the block must not run (it runs the test suite, starts
  a second server, needs Tableau Cloud, follows forever...); the reason is required and is
  printed with every run, so a skip stays visible;
- ``<!-- docs-test: server (why) -->`` — the block starts the server the page's examples talk
  to. The harness does not run it but starts a server the same way: the ``NAME=value``
  settings before the command and its flags (``--dev``), on a free port instead of 8000;
- ``<!-- docs-test: expect-http-error (why) -->`` — the block shows an error answer on
  purpose. Its curl commands may be answered 4xx/5xx (anything else that fails still fails),
  and at least one must be, or the example no longer shows what it says.
- ``<!-- docs-test: file (docs/samples/x.py) -->`` — the block shows a file of the
  repository, which the page's examples use (a receiver they start, say). It is not run; the
  harness checks that it is the file, character for character, so the copy readers see is
  the code that ran. It may stand before a block of any language.

Blocks in other languages (``text``, ``xml``, ``json``, ...) are output or configuration and
are not run. A ``docs-test`` comment anywhere else, or of another kind, is an error: a marker
that silently did nothing would hide an example from the tests.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from markdown_it import MarkdownIt

SHELL_LANGUAGES = frozenset({"sh", "bash", "shell"})
PYTHON_LANGUAGES = frozenset({"python", "py", "python3"})
MARKER_KINDS = frozenset({"skip", "server", "expect-http-error", "file"})

_MARKER = re.compile(r"<!--\s*docs-test\s*:\s*(?P<body>.*?)\s*-->", re.DOTALL)
_MARKER_BODY = re.compile(r"(?P<kind>[a-z-]+)\s*(?:\((?P<reason>.*)\))?", re.DOTALL)
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
#: ``serve`` flags the harness chooses itself: the page's server gets a free port on loopback.
_CHOSEN_BY_HARNESS = frozenset({"--host", "--port"})


class MarkerError(ValueError):
    """A ``docs-test`` comment the harness cannot honour (misplaced, unknown, no reason)."""


@dataclass(frozen=True)
class Marker:
    """A ``<!-- docs-test: KIND (reason) -->`` comment right before a block."""

    kind: str
    reason: str


@dataclass(frozen=True)
class Block:
    """One fenced code block of a page."""

    page: str
    line: int  # 1-based line of the opening fence
    language: str
    code: str
    marker: Marker | None = None

    @property
    def runnable(self) -> bool:
        """Shell and Python examples are run; everything else is output or configuration."""
        return self.language in SHELL_LANGUAGES | PYTHON_LANGUAGES

    @property
    def is_python(self) -> bool:
        return self.language in PYTHON_LANGUAGES

    @property
    def runs(self) -> bool:
        """Run by the harness: runnable, and not kept from running by a marker."""
        return self.runnable and (self.marker is None or self.marker.kind == "expect-http-error")

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def shows_file(self) -> str | None:
        """The repository path a ``file`` block shows (relative to the clone), if it is one."""
        return self.marker.reason if self.marker and self.marker.kind == "file" else None


@dataclass(frozen=True)
class ServerSpec:
    """How a page's server is started: settings from the environment, and ``serve`` flags."""

    env: dict[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ("--dev",)


def parse(text: str, page: str) -> list[Block]:
    """Every fenced block of ``text`` with the marker right before it, in document order.

    Args:
        text: the Markdown source.
        page: how the page is named in messages (e.g. ``docs/cli.md``).

    Raises:
        MarkerError: a ``docs-test`` comment that is not right before a runnable block, of an
            unknown kind, or a ``skip`` without a reason.
    """
    tokens = MarkdownIt("commonmark").parse(text)
    blocks: list[Block] = []
    pending: tuple[Marker, int] | None = None
    for token in tokens:
        if token.type == "html_block" and _MARKER.search(token.content):
            line = (token.map[0] + 1) if token.map else 0
            if pending is not None:
                raise MarkerError(f"{page}:{pending[1]}: docs-test marker not before a code block")
            pending = (_marker(token.content, f"{page}:{line}"), line)
            continue
        if token.type not in ("fence", "code_block"):
            if pending is not None and token.type not in _WRAPPERS:
                raise MarkerError(
                    f"{page}:{pending[1]}: a docs-test marker must come right before the "
                    "code block it is about"
                )
            continue
        language = token.info.strip().split()[0].lower() if token.info.strip() else ""
        marker = pending[0] if pending else None
        block = Block(page, token.map[0] + 1 if token.map else 0, language, token.content, marker)
        if marker is not None and marker.kind != "file" and not block.runnable:
            raise MarkerError(
                f"{block.where}: docs-test marker on a {language or 'plain'} block, which is "
                "never run"
            )
        blocks.append(block)
        pending = None
    if pending is not None:
        raise MarkerError(f"{page}:{pending[1]}: docs-test marker at the end of the page")
    if sum(1 for b in blocks if b.marker and b.marker.kind == "server") > 1:
        raise MarkerError(f"{page}: more than one docs-test server block (one server a page)")
    return blocks


#: Tokens that may stand between a marker and its block: the list or quote holding both.
_WRAPPERS = frozenset(
    {
        "bullet_list_open",
        "ordered_list_open",
        "list_item_open",
        "blockquote_open",
    }
)


def _marker(comment: str, where: str) -> Marker:
    found = _MARKER.search(comment)
    assert found is not None
    body = _MARKER_BODY.fullmatch(found.group("body"))
    if body is None or body.group("kind") not in MARKER_KINDS:
        raise MarkerError(
            f"{where}: unknown docs-test marker {found.group(0)!r}; "
            f"use one of {', '.join(sorted(MARKER_KINDS))}, e.g. <!-- docs-test: skip (why) -->"
        )
    kind, reason = body.group("kind"), (body.group("reason") or "").strip()
    if kind == "file" and (not reason or reason.startswith("/") or ".." in reason.split("/")):
        raise MarkerError(
            f"{where}: a docs-test file marker needs the path, in the repository, of the file "
            "the block shows: <!-- docs-test: file (docs/samples/receiver.py) -->"
        )
    if kind != "server" and not reason:
        raise MarkerError(
            f"{where}: a docs-test {kind} marker needs its reason: <!-- docs-test: {kind} (why) -->"
        )
    return Marker(kind, reason)


def server_spec(block: Block | None) -> ServerSpec:
    """The server a page's ``server`` block starts; README's quick start when it has none.

    The block's first command is read as a shell would: ``NAME=value`` words before it are
    settings, then ``./scripts/serve`` or ``tabhooks serve`` and its flags. ``--host`` and
    ``--port`` are left to the harness (loopback, a free port).

    Raises:
        MarkerError: the block's first command does not start tabhooks.
    """
    default = ServerSpec({"TABHOOKS_ADMIN_PASSWORD": "change-me"}, ("--dev",))
    if block is None:
        return default
    command = _first_command(block.code)
    words = shlex.split(command, comments=True)
    env = dict(default.env)
    while words and _ASSIGNMENT.match(words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    if words[:1] == ["tabhooks"] and words[1:2] == ["serve"]:
        rest = words[2:]
    elif words and words[0].endswith("scripts/serve"):
        rest = words[1:]
    else:
        raise MarkerError(
            f"{block.where}: a docs-test server block must start with ./scripts/serve or "
            f"tabhooks serve, not {command!r}"
        )
    args: list[str] = []
    skip_value = False
    for word in rest:
        if skip_value:
            skip_value = False
        elif word in _CHOSEN_BY_HARNESS:
            skip_value = True
        elif word.split("=", 1)[0] not in _CHOSEN_BY_HARNESS and word != "&":
            args.append(word)
    return ServerSpec(env, tuple(args))


def _first_command(code: str) -> str:
    """The first command of a shell block, its ``\\``-continued lines joined."""
    joined = re.sub(r"\\\n", " ", code)
    for line in joined.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            return line.strip()
    return ""


def pages(root: Path) -> list[Path]:
    """The pages whose examples run: README.md and every Markdown page under docs/."""
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]
