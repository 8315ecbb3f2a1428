"""``/ui/docs``: the project's documentation (``docs/*.md`` and the README), rendered.

A newcomer who opened ``/`` should reach the guides without leaving the server (the machines
tabhooks runs on may have no internet). The Markdown comes from the source checkout the
server runs from (``./scripts/serve``); an install without it says so on the index instead
of linking somewhere that is not there.

Rendering is markdown-it-py's CommonMark with tables and raw HTML *off* (HTML in a page is
shown as text), and the page goes out under the UI's Content-Security-Policy like any other.
Links between the files are rewritten to their pages here (``cli.md``, ``docs/cli.md`` and
``../README.md`` all work), headings get GitHub's anchors so ``security.md#secrets-at-rest``
lands where it does on GitHub, and images are served from ``docs/screenshots``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import FileResponse, Response

import tabhooks
from tabhooks.errors import ResourceNotFound
from tabhooks.web.session import MaybeViewerDep
from tabhooks.web.templating import pages_of

router = APIRouter(prefix="/ui/docs", include_in_schema=False)

#: The source checkout's root (``src/tabhooks/__init__.py`` is two levels below it).
SOURCE_ROOT = Path(tabhooks.__file__).resolve().parents[2]
DOCS_DIR = SOURCE_ROOT / "docs"
README = SOURCE_ROOT / "README.md"
SCREENSHOTS = DOCS_DIR / "screenshots"
_PAGE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*\.md")
_IMAGE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*\.png")
_LINK = re.compile(r"^(?:\./|\.\./|docs/)*(?P<name>[A-Za-z0-9_-]+\.md)(?P<anchor>#.*)?$")
_IMAGE = re.compile(r"^(?:\./|docs/)*screenshots/(?P<name>[a-z0-9_-]+\.png)$")


@dataclass(frozen=True, slots=True)
class DocPage:
    """One page of the documentation: its file name and its first heading."""

    name: str
    title: str


def available() -> bool:
    """Whether this install has the docs (a source checkout does; a wheel does not)."""
    return DOCS_DIR.is_dir() and README.is_file()


def pages() -> list[DocPage]:
    """The README first, then ``docs/*.md`` by name."""
    if not available():
        return []
    files = [README, *sorted(DOCS_DIR.glob("*.md"))]
    return [
        DocPage(path.name, _title(path))
        for path in files
        if _PAGE_NAME.fullmatch(path.name.lower())
    ]


#: The README's first heading is the project's name; its page is listed as what it holds.
README_TITLE = "Overview and quick start"


def _title(path: Path) -> str:
    """The page's first heading as plain text (code marks dropped)."""
    if path == README:
        return README_TITLE
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].replace("`", "").strip()
    return path.stem


def slug(text: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    kept = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return kept.replace(" ", "-")


def _rewrite_link(href: str) -> str:
    """A link to another Markdown file points at its page here; anything else is kept."""
    found = _LINK.match(href)
    if found is None:
        return href
    return f"/ui/docs/{found['name']}{found['anchor'] or ''}"


def _rewrite_image(src: str) -> str:
    found = _IMAGE.match(src)
    return f"/ui/docs/screenshots/{found['name']}" if found else src


def _anchors_and_links(state: Any) -> None:
    """A markdown-it core rule: heading ids, local links and image sources rewritten."""
    tokens: list[Token] = state.tokens
    seen: dict[str, int] = {}
    for i, token in enumerate(tokens):
        if token.type == "heading_open" and i + 1 < len(tokens):
            anchor = slug(tokens[i + 1].content)
            count = seen.get(anchor, 0)
            seen[anchor] = count + 1
            token.attrSet("id", anchor if count == 0 else f"{anchor}-{count}")
        for child in token.children or ():
            if child.type == "link_open":
                child.attrSet("href", _rewrite_link(str(child.attrGet("href") or "")))
            elif child.type == "image":
                child.attrSet("src", _rewrite_image(str(child.attrGet("src") or "")))


_COMMENT_ONLY = re.compile(r"<!--.*?-->", re.DOTALL)


def _drop_comments(state: Any) -> None:
    """A markdown-it core rule: a paragraph that is only an HTML comment (the docs-test
    harness's ``<!-- docs-test: skip (why) -->`` markers, notes to editors) is left out, as
    GitHub hides it; with raw HTML off it would otherwise show as text."""
    tokens: list[Token] = state.tokens
    kept: list[Token] = []
    i = 0
    while i < len(tokens):
        if (
            tokens[i].type == "paragraph_open"
            and i + 2 < len(tokens)
            and tokens[i + 1].type == "inline"
            and _COMMENT_ONLY.fullmatch(tokens[i + 1].content.strip())
        ):
            i += 3  # paragraph_open, inline, paragraph_close
            continue
        kept.append(tokens[i])
        i += 1
    state.tokens = kept


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    md.core.ruler.push("tabhooks_drop_comments", _drop_comments)
    md.core.ruler.push("tabhooks_anchors_and_links", _anchors_and_links)
    return md


def render(source: str) -> Markup:
    """Markdown to HTML; raw HTML in the source comes out as text."""
    return Markup(_markdown().render(source))  # markdown-it escapes: html is off


def _file_of(name: str) -> Path:
    lowered = name.lower()
    if not available() or not _PAGE_NAME.fullmatch(lowered):
        raise ResourceNotFound(f"There is no documentation page '{name}'.")
    path = README if lowered == "readme.md" else DOCS_DIR / lowered
    if not path.is_file():
        raise ResourceNotFound(f"There is no documentation page '{name}'.")
    return path


@router.get("")
@router.get("/")
async def index(request: Request, viewer: MaybeViewerDep) -> Response:
    return pages_of(request).page(
        request, "docs_index.html", viewer=viewer, docs=pages(), available=available()
    )


@router.get("/screenshots/{name}")
async def screenshot(name: str) -> Response:
    path = SCREENSHOTS / name.lower()
    if not _IMAGE_NAME.fullmatch(name.lower()) or not path.is_file():
        raise ResourceNotFound(f"There is no screenshot '{name}'.")
    return FileResponse(path, media_type="image/png")


@router.get("/{name}")
async def page(request: Request, name: str, viewer: MaybeViewerDep) -> Response:
    path = _file_of(name)
    return pages_of(request).page(
        request,
        "doc.html",
        viewer=viewer,
        title=_title(path),
        name=path.name,
        html=render(path.read_text(encoding="utf-8")),
        docs=pages(),
    )
