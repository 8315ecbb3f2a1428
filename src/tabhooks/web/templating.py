"""Rendering pages: one Jinja2 environment with autoescape on and hashed static URLs.

Autoescaping is on for every template, so anything that came from outside (a captured body,
a header, a webhook name) is text, never markup. The Content-Security-Policy sent with every
HTML response (:mod:`tabhooks.web.headers`, one middleware for all of them) allows scripts
only from our own origin and no inline script at all, so even a missed escape could not run
code. Static URLs carry a hash of the file's content, so a browser never runs yesterday's
script against today's page.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse

STATIC_DIR = Path(__file__).with_name("static")
TEMPLATE_DIR = Path(__file__).with_name("templates")
STATIC_PREFIX = "/ui/static"


def _hashes() -> dict[str, str]:
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        for path in STATIC_DIR.iterdir()
        if path.is_file()
    }


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def relative(moment: datetime, now: datetime) -> str:
    """``moment`` as people say it: "just now", "2 min ago", "in 30 s", "3 days ago"."""
    seconds = (now - moment).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 5:
        return "just now"
    for size, unit in ((86400, "day"), (3600, "h"), (60, "min"), (1, "s")):
        if seconds >= size:
            count = int(seconds // size)
            label = f"{count} {unit}" + ("s" if unit == "day" and count != 1 else "")
            return f"in {label}" if future else f"{label} ago"
    return "just now"  # pragma: no cover - the loop always returns


def _ago(moment: datetime | None) -> Markup:
    """A ``<time>`` that says how long ago, with the UTC time on hover; ``app.js`` keeps the
    words current while the page stays open."""
    if moment is None:
        return Markup("—")
    moment = moment.astimezone(UTC)
    return Markup('<time class="ago" datetime="{iso}" title="{title}">{text}</time>').format(
        iso=moment.isoformat().replace("+00:00", "Z"),
        title=_when(moment),
        text=relative(moment, datetime.now(UTC)),
    )


#: Bodies longer than this are shown as they are, not parsed to be indented.
PRETTY_MAX_CHARS = 256 * 1024


def pretty(text: str | bytes | None) -> str:
    """JSON indented for reading; anything else (or anything huge) as it is."""
    if text is None:
        return ""
    raw = text.decode("utf-8", errors="replace") if isinstance(text, bytes) else text
    if len(raw) > PRETTY_MAX_CHARS:
        return raw
    try:
        return json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        return raw


def header_pairs(stored: str | dict[str, str] | None) -> list[tuple[str, str]]:
    """Response headers as recorded with an attempt (a JSON object), as ``(name, value)``."""
    if not stored:
        return []
    try:
        found = json.loads(stored) if isinstance(stored, str) else stored
    except ValueError:
        return []
    if not isinstance(found, dict):
        return []
    return [(str(name), str(value)) for name, value in found.items()]


def _clock(moment: datetime | None) -> str:
    return "—" if moment is None else moment.astimezone(UTC).strftime("%H:%M:%S")


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    if count < 1024 * 1024:
        return f"{count / 1024:.1f} KiB"
    return f"{count / (1024 * 1024):.1f} MiB"


def _excerpt(data: bytes | str | None, limit: int = 300) -> str:
    if data is None:
        return ""
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _status_class(status: int | None) -> str:
    if status is None:
        return "none"
    return "ok" if 200 <= status < 300 else "fail"


class Pages:
    """The template environment of one app, with its static hashes computed once."""

    def __init__(self) -> None:
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        hashes = _hashes()
        self.env.globals["static_url"] = lambda name: (
            f"{STATIC_PREFIX}/{name}?v={hashes.get(name, '0')}"
        )
        self.env.filters.update(
            when=_when,
            clock=_clock,
            size=_size,
            excerpt=_excerpt,
            status_class=_status_class,
            ago=_ago,
            pretty=pretty,
            headers=header_pairs,
        )

    def fragment(self, template: str, /, **context: Any) -> str:
        """A template rendered to a string (partials sent over SSE or fetched by scripts)."""
        return self.env.get_template(template).render(**context)

    def page(
        self, request: Request, template: str, /, *, status: int = 200, **context: Any
    ) -> HTMLResponse:
        context.setdefault("viewer", None)
        context.setdefault("notice", None)
        context.setdefault("error", None)
        html = self.env.get_template(template).render(request=request, **context)
        return HTMLResponse(html, status_code=status)


def pages_of(request: Request) -> Pages:
    """The page renderer the app was built with (``app.state.pages``)."""
    pages: Pages = request.app.state.pages
    return pages
