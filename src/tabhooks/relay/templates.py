"""Relay templates: Jinja2 in an immutable sandbox, checked when saved, rendered per event.

Templates are written by site administrators but rendered inside the server, so they get the
strictest Jinja2 offers: :class:`~jinja2.sandbox.ImmutableSandboxedEnvironment` (no attribute
starting with ``_``, no mutation of lists or dicts, no unsafe callables). On top of that,
:func:`check` refuses at save time any template that *names* an underscore attribute —
``{{ ''.__class__.__mro__ }}`` and friends — so an escape attempt is an error the author sees
with its line, not a silently empty string at 3 a.m. Autoescape is off because the output is
JSON or plain text, not HTML; ``tojson`` is there for embedding values safely in JSON.

Rendering is bounded in time, loop passes and the size of every value it builds
(:mod:`tabhooks.relay.sandbox`); the server calls these functions only inside its render
worker processes (:mod:`tabhooks.relay.render_pool`), which add the hard limits.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, Protocol

from jinja2 import ChainableUndefined, Template, TemplateSyntaxError, Undefined, nodes
from jinja2.exceptions import SecurityError, TemplateError

from tabhooks.errors import BadRequest
from tabhooks.relay.sandbox import (
    VALUE_MAX_CHARS,
    BoundedSandbox,
    LimitExceeded,
    TimeLimitExceeded,
    metered,
)

#: Longest template accepted; a relay body is a message, not a program.
TEMPLATE_MAX_CHARS = 20_000
#: Longest rendered body; beyond this the attempt fails instead of flooding the receiver.
RENDERED_MAX_CHARS = VALUE_MAX_CHARS
#: Time one render may take unless the caller says otherwise.
RENDER_TIMEOUT_S = 1.0
#: What a render failure that hit a bound starts with (the delivery record shows it).
LIMIT_PREFIX = "template exceeded a limit: "


class InvalidTemplate(BadRequest):
    """The relay template does not compile or uses something the sandbox forbids."""


class RenderFailed(Exception):
    """Rendering a stored template failed for this event; ``str()`` says why.

    ``overran`` is set when it used up its time or memory: the render pool then skips that
    template for a while instead of letting it take a worker's whole limit message after
    message.
    """

    def __init__(self, reason: str, *, overran: bool = False) -> None:
        super().__init__(reason)
        self.overran = overran


class Renderer(Protocol):
    """Where templates are checked and rendered: the server's worker processes, off its loop."""

    async def check(self, source: str) -> None:
        """Raise :class:`InvalidTemplate` unless ``source`` compiles and is safe."""

    async def render(self, source: str, context: Mapping[str, Any]) -> str:
        """The rendered text; raises :class:`RenderFailed` with the reason."""


class _Sandbox(BoundedSandbox):
    """The bounded sandbox, but an unsafe attribute is an error, not an empty value."""

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        raise SecurityError(
            f"access to attribute {attribute!r} of a {type(obj).__name__!r} object is unsafe"
        )


# ChainableUndefined: ``{{ enrichment.project.name }}`` is empty when enrichment is off,
# instead of failing every message of a route whose lookup is down.
_ENV = _Sandbox(autoescape=False, undefined=ChainableUndefined, keep_trailing_newline=True)


@functools.lru_cache(maxsize=256)
def _compiled(source: str) -> Template:
    """Compiling costs about a millisecond and a route renders the same few templates over and
    over, so each worker keeps the ones it has compiled."""
    return _ENV.from_string(source)


def check(source: str) -> None:
    """Raise :class:`InvalidTemplate` (with the line and reason) unless ``source`` is safe.

    Called when a route is saved, so a broken template never reaches the queue.
    """
    if len(source) > TEMPLATE_MAX_CHARS:
        raise InvalidTemplate(f"The template must be at most {TEMPLATE_MAX_CHARS} characters.")
    try:
        _check(source)
    except RecursionError as exc:
        raise InvalidTemplate("The template does not compile: it is nested too deeply.") from exc
    except MemoryError as exc:
        raise InvalidTemplate("The template does not compile: it needs too much memory.") from exc


def _check(source: str) -> None:
    try:
        tree = _ENV.parse(source)
    except TemplateSyntaxError as exc:
        detail = f"The template does not compile: line {exc.lineno}: {exc.message}"
        raise InvalidTemplate(detail) from exc
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter)):
        name = _accessed_name(node)
        if name is not None and name.startswith("_"):
            raise InvalidTemplate(
                f"The template is refused: line {node.lineno}: access to '{name}' is not "
                "allowed (attributes starting with '_' are off limits in relay templates)."
            )
    _check_names(tree)
    try:
        _compiled(source)
    except TemplateError as exc:  # anything else the compiler refuses
        line = getattr(exc, "lineno", None)
        where = f"line {line}: " if line else ""
        raise InvalidTemplate(f"The template does not compile: {where}{exc}") from exc


def _check_names(tree: nodes.Template) -> None:
    """Unknown filters and tests: Jinja2 leaves those inside ``{% if %}`` to render time, where
    they would fail every message that takes the branch; refuse them at save instead."""
    for node in tree.find_all((nodes.Filter, nodes.Test)):
        is_filter = isinstance(node, nodes.Filter)
        if node.name not in (_ENV.filters if is_filter else _ENV.tests):
            what = "filter" if is_filter else "test"
            raise InvalidTemplate(
                f"The template does not compile: line {node.lineno}: no {what} named '{node.name}'"
            )


def _accessed_name(node: nodes.Node) -> str | None:
    if isinstance(node, nodes.Getattr):
        return str(node.attr)
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        value = node.arg.value
        return value if isinstance(value, str) else None
    if isinstance(node, nodes.Filter) and node.name == "attr" and node.args:
        first = node.args[0]
        if isinstance(first, nodes.Const) and isinstance(first.value, str):
            return first.value
    return None


def render(source: str, context: Mapping[str, Any], *, timeout_s: float = RENDER_TIMEOUT_S) -> str:
    """Render ``source`` with ``context`` within the sandbox's bounds and ``timeout_s``.

    The output is streamed and counted as it is made, so a body over
    :data:`RENDERED_MAX_CHARS` stops the render instead of being built first. Any failure
    becomes :class:`RenderFailed`; one that hit a bound starts with :data:`LIMIT_PREFIX`.
    """
    end = metered(timeout_s)
    try:
        parts: list[str] = []
        size = 0
        for part in _compiled(source).generate(context):
            size += len(part)
            if size > RENDERED_MAX_CHARS:
                raise RenderFailed(f"rendered body is over {RENDERED_MAX_CHARS} characters")
            parts.append(part)
        return "".join(parts)
    except RenderFailed:
        raise
    except LimitExceeded as exc:
        overran = isinstance(exc, TimeLimitExceeded)
        raise RenderFailed(f"{LIMIT_PREFIX}{exc}", overran=overran) from exc
    except RecursionError as exc:
        detail = "it nested calls too deeply (a macro or a recursive loop calling itself?)"
        raise RenderFailed(f"{LIMIT_PREFIX}{detail}") from exc
    except MemoryError as exc:
        detail = "it needed more memory than templates may use"
        raise RenderFailed(f"{LIMIT_PREFIX}{detail}", overran=True) from exc
    except SecurityError as exc:
        raise RenderFailed(f"template refused by the sandbox: {exc}") from exc
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        where = f"line {line}: " if line else ""
        raise RenderFailed(f"template render error: {where}{exc}") from exc
    except Exception as exc:  # a filter raising ZeroDivisionError, TypeError, ...
        raise RenderFailed(f"template render error: {type(exc).__name__}: {exc}") from exc
    finally:
        end()
