"""Making text someone else wrote safe to print on a terminal.

A bin captures whatever anybody posts to it, and ``inbox tail``, ``listen`` and the delivery
commands print those paths, headers and payloads. Printed raw, a payload carrying
``ESC [2J`` clears the screen, ``ESC ]52;c;…`` writes the operator's clipboard (OSC 52), a
C1 ``CSI`` (U+009B) does the same on 8-bit terminals, and bidi overrides make a line read
differently from what it holds (Trojan Source). Rich strips only a few of these (BEL, BS, VT,
FF, CR), so every printing path of the CLI passes foreign text through :func:`clean` first,
which shows each such character as a visible escape (``\\x1b``, ``\\u202e``) instead.

Rich markup is the other channel: a value such as ``[link=…]`` must be shown as typed. The
CLI prints :class:`rich.text.Text` objects, which are never parsed as markup; where an API
takes a markup string (spinners, ``print`` of a ``str``), :func:`markup` escapes it too.
"""

from __future__ import annotations

import re

from rich.markup import escape
from rich.text import Text

#: Bidi embeddings, overrides and isolates (U+202A-202E, U+2066-2069) and the bare marks
#: (LRM, RLM, ALM): invisible, and they reorder what is shown around them.
_BIDI = r"\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
#: C0 controls (ESC among them), DEL and the C1 controls, plus the bidi characters.
_UNSAFE = re.compile(rf"[\x00-\x1f\x7f-\x9f{_BIDI}]")
#: The same, but keeping newline and tab: for multi-line bodies.
_UNSAFE_IN_LINES = re.compile(rf"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}]")
#: What :func:`json_safe` still has to escape: ``json.dumps`` escapes C0 already.
_UNSAFE_IN_JSON = re.compile(rf"[\x7f-\x9f{_BIDI}]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(value: object, *, lines: bool = False) -> str:
    """``value`` as text with every terminal control character shown as an escape.

    Args:
        value: Anything; ``None`` and non-strings are converted with :class:`str`.
        lines: Keep newlines and tabs (a body printed over several lines); ``\\r\\n`` line
            ends count as newlines. Otherwise they are escaped too, so one value stays on
            one line.
    """
    text = "" if value is None else str(value)
    if lines:
        return _UNSAFE_IN_LINES.sub(_visible, text.replace("\r\n", "\n"))
    return _UNSAFE.sub(_visible, text)


def text(value: object, style: str = "", *, lines: bool = False) -> Text:
    """:func:`clean` as a Rich :class:`~rich.text.Text` (never read as markup)."""
    return Text(clean(value, lines=lines), style=style)


def markup(value: object) -> str:
    """:func:`clean`, then escaped for Rich markup: for APIs that parse a ``str`` as markup."""
    return escape(clean(value))


def json_safe(document: str) -> str:
    """A ``json.dumps`` result with DEL, C1 and bidi characters as ``\\uXXXX`` escapes.

    ``json.dumps(..., ensure_ascii=False)`` escapes C0 controls but writes these as they
    are. They can only occur inside JSON strings, so the result is the same JSON value.
    """
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", document)
