"""Decoding JSON that callers send, so that no body can crash or stall what reads it.

``json.loads`` accepts things the rest of the server cannot hold: a lone surrogate
(``"\\ud800"``) decodes to a ``str`` that no database driver, logger or response encoder will
write (UnicodeEncodeError deep inside a handler), a NUL (``"\\u0000"``) to one that PostgreSQL
text cannot hold, and other control characters to ones no XML answer can carry;
``[[[[...`` a hundred thousand deep raises RecursionError, which is not a ValueError; a
5,000-digit number raises ValueError from the int conversion rather than JSONDecodeError, and
a shorter one overflows a 64-bit column later; ``NaN`` and ``Infinity`` are not JSON at all.
:func:`loads` refuses each of these up front with a :class:`~tabhooks.errors.BadRequest`, and
:func:`looks_hostile` is a cheap scan that tells a middleware whether a body needs the careful
decode at all.
"""

from __future__ import annotations

import json
import re

from tabhooks.errors import BadRequest

#: Deepest nesting of arrays and objects accepted (Tableau's documents nest about 5 deep).
MAX_DEPTH = 64
#: Longest number literal accepted, in characters (an int64 has 19 digits, a double ~25).
MAX_NUMBER_CHARS = 64

#: How a character no field may hold reaches decoded JSON text: a ``\u0000``-``\u001F``,
#: ``\uD800``-``\uDFFF`` or ``\uFFFE``/``\uFFFF`` escape, or a raw U+FFFE/U+FFFF (raw control
#: characters are malformed JSON; the UTF-8 decoder refuses surrogates). Flags tab, line feed
#: and carriage return too, which the careful check then lets through.
_UNSTORABLE_ESCAPE = re.compile(
    r"\\u(?:00[01][0-9a-fA-F]|[dD][89a-fA-F]|[fF]{3}[eEfF])|[\ufffe\uffff]"
)
_UNSTORABLE_ESCAPE_BYTES = re.compile(
    rb"\\u(?:00[01][0-9a-fA-F]|[dD][89a-fA-F]|[fF]{3}[eEfF])|\xef\xbf[\xbe\xbf]"
)
#: What no stored value may hold: NUL (PostgreSQL text), other characters XML 1.0 cannot
#: carry (every value may be rendered in an XML answer), lone surrogates (not characters).
_UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_LONG_DIGITS_BYTES = re.compile(rb"[0-9]{%d}" % (MAX_NUMBER_CHARS + 1))


def looks_hostile(body: bytes) -> bool:
    """Whether ``body`` might hold something :func:`loads` refuses that plain parsing accepts.

    Three C-speed scans, no decoding: a control character, surrogate or non-character
    escape, a digit run longer than any number accepted, or more brackets than the deepest
    nesting allowed. ``False`` means a plain
    ``json.loads`` of the body is safe (it may still be malformed, which it reports itself).
    """
    return (
        body.count(b"[") + body.count(b"{") > MAX_DEPTH
        or _UNSTORABLE_ESCAPE_BYTES.search(body) is not None
        or _LONG_DIGITS_BYTES.search(body) is not None
    )


def loads(raw: bytes | str, *, what: str = "The JSON request body") -> object:
    """Decode ``raw`` as JSON, refusing what the server could not safely hold.

    Args:
        raw: the body; bytes must be UTF-8 (a byte-order mark is allowed).
        what: how the error detail names the document.

    Raises:
        BadRequest: not UTF-8, malformed, nested deeper than :data:`MAX_DEPTH`, a number
            longer than :data:`MAX_NUMBER_CHARS`, ``NaN``/``Infinity``, a NUL or other control
            character but tab, line feed and carriage return, U+FFFE/U+FFFF, or a lone
            surrogate.
    """
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise BadRequest(f"{what} is not valid UTF-8 (byte {exc.start}).") from exc
    else:
        text = raw
    try:
        data = json.loads(
            text,
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_refuse_constant,
        )
    except json.JSONDecodeError as exc:
        raise BadRequest(f"{what} is malformed: {exc}.") from exc
    except RecursionError as exc:
        raise BadRequest(f"{what} is nested too deeply (at most {MAX_DEPTH} levels).") from exc
    except _Refused as exc:
        raise BadRequest(f"{what} {exc}") from exc
    if text.count("[") + text.count("{") > MAX_DEPTH and _depth(data) > MAX_DEPTH:
        raise BadRequest(f"{what} is nested too deeply (at most {MAX_DEPTH} levels).")
    if _UNSTORABLE_ESCAPE.search(text) is not None:
        found = _unstorable(data)
        if found == "\x00":
            raise BadRequest(f"{what} contains a NUL character (\\u0000), which no field can hold.")
        if found is not None and "\ud800" <= found <= "\udfff":
            raise BadRequest(
                f"{what} contains a lone UTF-16 surrogate escape (\\ud800-\\udfff without its "
                "pair), which is not a character."
            )
        if found is not None:
            raise BadRequest(
                f"{what} contains the character {ascii(found)[1:-1]}, which no field can hold "
                "(XML 1.0 cannot carry it)."
            )
    return data


class _Refused(ValueError):
    """Raised inside the decoder's hooks; :func:`loads` words the final error."""


def _parse_int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise _Refused(f"has a number longer than {MAX_NUMBER_CHARS} characters.")
    return int(text)


def _parse_float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise _Refused(f"has a number longer than {MAX_NUMBER_CHARS} characters.")
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _Refused(f"has a number too large for a double ({text[:20]}...).")
    return value


def _refuse_constant(name: str) -> object:
    raise _Refused(f"uses {name}, which is not JSON.")


def _depth(data: object) -> int:
    """Nesting depth, walked with an explicit stack (the data may be ~1,000 deep)."""
    deepest = 0
    stack: list[tuple[object, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            deepest = max(deepest, depth)
            stack.extend((value, depth + 1) for value in node.values())
        elif isinstance(node, list):
            deepest = max(deepest, depth)
            stack.extend((value, depth + 1) for value in node)
    return deepest


def _unstorable(data: object) -> str | None:
    """The first character no field may hold in any key or string, if any (a proper escaped
    pair decodes to one character outside the BMP, so any surrogate left is a lone one)."""
    stack: list[object] = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            match = _UNSTORABLE.search(node)
            if match is not None:
                return match.group()
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return None
