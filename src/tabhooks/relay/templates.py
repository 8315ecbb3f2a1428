"""Relay templates: Jinja2 in an immutable sandbox, checked when saved, rendered per event.

Templates are written by site administrators but rendered inside the server, so they get the
strictest Jinja2 offers: :class:`~jinja2.sandbox.ImmutableSandboxedEnvironment` (no attribute
starting with ``_``, no mutation of lists or dicts, no unsafe callables). On top of that,
:func:`check` refuses at save time any template that *names* an underscore attribute —
``{{ ''.__class__.__mro__ }}`` and friends — so an escape attempt is an error the author sees
with its line, not a silently empty string at 3 a.m. Autoescape is off because the output is
JSON or plain text, not HTML; ``tojson`` is there for embedding values safely in JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import ChainableUndefined, TemplateSyntaxError, Undefined, nodes
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from tabhooks.errors import BadRequest

#: Longest template accepted; a relay body is a message, not a program.
TEMPLATE_MAX_CHARS = 20_000
#: Longest rendered body; beyond this the attempt fails instead of flooding the receiver.
RENDERED_MAX_CHARS = 256_000


class InvalidTemplate(BadRequest):
    """The relay template does not compile or uses something the sandbox forbids."""


class RenderFailed(Exception):
    """Rendering a stored template failed for this event; ``str()`` says why."""


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox, but an unsafe attribute is an error, not an empty value."""

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        raise SecurityError(
            f"access to attribute {attribute!r} of a {type(obj).__name__!r} object is unsafe"
        )


# ChainableUndefined: ``{{ enrichment.project.name }}`` is empty when enrichment is off,
# instead of failing every message of a route whose lookup is down.
_ENV = _Sandbox(autoescape=False, undefined=ChainableUndefined, keep_trailing_newline=True)


def check(source: str) -> None:
    """Raise :class:`InvalidTemplate` (with the line and reason) unless ``source`` is safe.

    Called when a route is saved, so a broken template never reaches the queue.
    """
    if len(source) > TEMPLATE_MAX_CHARS:
        raise InvalidTemplate(f"The template must be at most {TEMPLATE_MAX_CHARS} characters.")
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
        _ENV.from_string(source)
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


def render(source: str, context: Mapping[str, Any]) -> str:
    """Render ``source`` with ``context``; any failure becomes :class:`RenderFailed`."""
    try:
        text = _ENV.from_string(source).render(context)
    except SecurityError as exc:
        raise RenderFailed(f"template refused by the sandbox: {exc}") from exc
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        where = f"line {line}: " if line else ""
        raise RenderFailed(f"template render error: {where}{exc}") from exc
    except Exception as exc:  # a filter raising ZeroDivisionError, TypeError, ...
        raise RenderFailed(f"template render error: {type(exc).__name__}: {exc}") from exc
    if len(text) > RENDERED_MAX_CHARS:
        raise RenderFailed(f"rendered body is over {RENDERED_MAX_CHARS} characters")
    return text
