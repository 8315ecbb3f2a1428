"""The bounded Jinja2 sandbox relay templates render in: every way to make work is metered.

Jinja2's :class:`~jinja2.sandbox.ImmutableSandboxedEnvironment` stops a template from reaching
Python's internals, but not from working forever or filling memory: two nested
``range(100000)`` loops ran for minutes, and ``{{ 'a' * 200000000 }}`` allocated 200 MB before
the output cap could look at it. This environment adds a budget per render, and checks the
operations that build values *before* they allocate:

- **Loops**: every ``{% for %}`` iterates through :meth:`BoundedSandbox.bounded_loop` (the
  parse tree is rewritten), which counts iterations across the whole render
  (:data:`LOOP_MAX_ITERATIONS`) and charges each pass with the literal text of the loop body.
- **Time**: calls (macros included, so recursion), loop passes, operators and outputs tick a
  step counter that compares the clock with the render's deadline every few steps.
- **Size**: ``*``, ``+``, ``%`` and ``**`` are intercepted (``call_binop``), ``~`` is rewritten
  into :meth:`BoundedSandbox.bounded_concat`, and the filters and ``str`` methods that take a
  width, a count or a replacement (``center``, ``indent``, ``format``, ``replace``, ``join``,
  ``ljust``...) are checked: a value over :data:`VALUE_MAX_CHARS` is refused with the size it
  would have had. Every ``{{ }}`` output is counted too (:data:`OUTPUT_BUDGET_CHARS`), inside
  macros and ``{% set %}`` blocks as well, where the final output cap cannot see.
- **Compile time**: Jinja2 folds constants while compiling, which *runs* filters:
  ``{{ 'a' | center(300000000) }}`` took 6.7 s and 300 MB just to save. The optimizer is off
  and the finalizer takes the context, which turns folding off entirely.

These checks give a template author an exact error early and cheaply; they are not what
guarantees the bound. A single C-level operation nobody thought of (``repr`` of a list nested
by reference, say) cannot be interrupted from Python, so templates render in a separate process
with a memory limit and a deadline enforced by the kernel (:mod:`tabhooks.relay.render_pool`).
"""

from __future__ import annotations

import functools
import re
import string
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from jinja2 import Undefined, nodes, pass_context
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import generate_lorem_ipsum
from jinja2.visitor import NodeTransformer

#: Largest value (text, or list counted as its text) one operation may build.
VALUE_MAX_CHARS = 256_000
#: Loop passes one render may make, all loops together.
LOOP_MAX_ITERATIONS = 100_000
#: Characters one render may produce, counting macro and ``{% set %}`` buffers.
OUTPUT_BUDGET_CHARS = 4 * VALUE_MAX_CHARS
#: Largest integer an operator may build, in bits (about 3,000 decimal digits).
INT_MAX_BITS = 10_000
#: Steps between two looks at the clock (a look costs about as much as 20 steps).
_CLOCK_EVERY = 32

_WIDTHS = re.compile(r"\d+")
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")


class LimitExceeded(Exception):
    """A template went past one of its bounds; ``str()`` says which, in the author's terms."""


class TimeLimitExceeded(LimitExceeded):
    """A template used up its time."""


@dataclass(slots=True)
class Budget:
    """What one render may still spend; made by :func:`metered`, read by the sandbox hooks."""

    timeout_s: float
    deadline: float = field(init=False)
    iterations: int = 0
    output_chars: int = 0
    steps: int = 0

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.timeout_s

    def step(self) -> None:
        self.steps += 1
        if not self.steps % _CLOCK_EVERY and time.monotonic() > self.deadline:
            raise TimeLimitExceeded(f"it ran for more than {self.timeout_s:g} s")

    def iterate(self, body_chars: int) -> None:
        self.iterations += 1
        if self.iterations > LOOP_MAX_ITERATIONS:
            raise LimitExceeded(f"its loops ran more than {LOOP_MAX_ITERATIONS:,} times")
        self.produce(body_chars)
        self.step()

    def produce(self, chars: int) -> None:
        self.output_chars += chars
        if self.output_chars > OUTPUT_BUDGET_CHARS:
            raise LimitExceeded(f"it produced more than {OUTPUT_BUDGET_CHARS:,} characters")


_BUDGET: ContextVar[Budget] = ContextVar("relay_template_budget")


def metered(timeout_s: float) -> Callable[[], Any]:
    """Start a budget for one render in this context; call the result to end it."""
    token = _BUDGET.set(Budget(timeout_s))
    return functools.partial(_BUDGET.reset, token)


def _budget() -> Budget:
    try:
        return _BUDGET.get()
    except LookupError:  # pragma: no cover - a render outside templates.render
        raise LimitExceeded("it was rendered without a budget") from None


def weight(value: object, limit: int = VALUE_MAX_CHARS) -> int:
    """About how many characters ``str(value)`` takes, counted no further than past ``limit``.

    Lists may hold the same big string many times over (``[s] * 1000`` is small in memory and
    huge as text), so references are counted as often as they appear; the count stops as soon
    as it passes ``limit``, which bounds its own cost.
    """
    total = 0
    pending: list[object] = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, Undefined):
            pass
        elif isinstance(item, bool | float | None):
            total += 5
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 1
        elif isinstance(item, Mapping):
            total += 2 + 4 * len(item)
            if total <= limit:
                pending.extend(item.keys())
                pending.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            total += 2 + 2 * len(item)
            if total <= limit:
                pending.extend(item)
        else:
            total += 16
        if total > limit:
            break
    return total


def _refuse_size(what: str, size: int) -> None:
    if size > VALUE_MAX_CHARS:
        raise LimitExceeded(
            f"{what} would make a value of about {size:,} characters, over the limit of "
            f"{VALUE_MAX_CHARS:,}"
        )


def _heaviest(values: Iterable[object]) -> int:
    return max((weight(v, VALUE_MAX_CHARS + 1) for v in values), default=0)


def check_percent(fmt: str, args: object, what: str = "'%'") -> None:
    """``fmt % args``: refuse ``*`` widths and widths or results over the limit."""
    specs = _PERCENT_SPEC.findall(fmt)
    widths = [int(w) for spec in specs for w in spec if w and w != "*"]
    if any(w == "*" for spec in specs for w in spec):
        raise LimitExceeded(f"{what} may not take a width from its arguments ('*')")
    if isinstance(args, Mapping):
        values: Iterable[object] = args.values()
    else:
        values = args if isinstance(args, tuple) else (args,)
    _refuse_size(what, len(fmt) + len(specs) * max([_heaviest(values), *widths]))


def check_format(fmt: str, values: Iterable[object]) -> None:
    """``fmt.format(...)``: refuse widths taken from arguments and results over the limit."""
    fields = [spec for _, name, spec, _ in string.Formatter().parse(fmt) if name is not None]
    if any("{" in (spec or "") for spec in fields):
        raise LimitExceeded("format() may not take a width from its arguments ('{:{w}}')")
    widths = [int(w) for spec in fields for w in _WIDTHS.findall(spec or "")]
    _refuse_size("format()", len(fmt) + len(fields) * max([_heaviest(values), *widths]))


def _check_replace(text: str, old: object, new: object, count: object = -1) -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        times = text.count(old) if old else len(text) + 1
        if isinstance(count, int) and count >= 0:
            times = min(times, count)
        _refuse_size("replace", len(text) + times * max(0, len(new) - len(old)))


def _check_join(items: list[Any], separator: object) -> None:
    gaps = max(0, len(items) - 1) * (len(separator) if isinstance(separator, str) else 0)
    _refuse_size("join", gaps + sum(weight(i, VALUE_MAX_CHARS + 1) for i in items))


def _check_width(width: object, what: str) -> None:
    if isinstance(width, int):
        _refuse_size(what, width)


def _check_str_call(owner: str, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Checks for the ``str`` methods that can make a value much bigger than the string.

    Returns the arguments to call with (``join`` may have turned an iterator into a list).
    """
    first: Any = args[0] if args else None
    if name in ("ljust", "rjust", "center", "zfill"):
        _check_width(first if args else kwargs.get("width"), f"{name}()")
    elif name == "expandtabs":
        size = first if args else kwargs.get("tabsize", 8)
        if isinstance(size, int):
            _refuse_size("expandtabs()", len(owner) + owner.count("\t") * size)
    elif name == "replace" and len(args) >= 2:
        _check_replace(owner, *args[:3])
    elif name == "join" and args:
        items = list(first)
        _check_join(items, owner)
        return (items, *args[1:])
    elif name == "translate" and isinstance(first, Mapping):
        _refuse_size("translate()", len(owner) * max(1, _heaviest(first.values())))
    return args


def _guard_filter(filters: dict[str, Any], name: str, check: Callable[..., Any]) -> None:
    """Run ``check`` on a filter's arguments (without Jinja2's passed first argument) before
    the filter; ``check`` returns the value to filter (``join`` lists an iterator first)."""
    original = filters[name]
    skip = 1 if getattr(original, "jinja_pass_arg", None) is not None else 0

    @functools.wraps(original)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        value = check(*args[skip:], **kwargs)
        return original(*args[:skip], value, *args[skip + 1 :], **kwargs)

    filters[name] = guarded


def _center(value: Any, width: Any = 80) -> Any:
    _check_width(width, "center")
    return value


def _indent(value: Any, width: Any = 4, first: Any = False, blank: Any = False) -> Any:
    pad = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    text = value if isinstance(value, str) else ""
    _refuse_size("indent", len(text) + (text.count("\n") + 1) * pad)
    return value


def _wordwrap(value: Any, width: Any = 79, *args: Any, **kwargs: Any) -> Any:
    wrapstring = args[1] if len(args) > 1 else kwargs.get("wrapstring")
    text = value if isinstance(value, str) else ""
    if isinstance(width, int) and isinstance(wrapstring, str):
        _refuse_size("wordwrap", len(text) + (len(text) // max(1, width) + 1) * len(wrapstring))
    return value


def _format(value: Any, *args: Any, **kwargs: Any) -> Any:
    if isinstance(value, str):
        check_percent(value, kwargs or args, "the format filter")
    return value


def _replace(value: Any, old: Any, new: Any, count: Any = None) -> Any:
    _check_replace(value, old, new, -1 if count is None else count)
    return value


def _join(value: Any, d: Any = "", attribute: Any = None) -> Any:
    items = list(value) if not isinstance(value, str) else [value]
    _check_join(items, d)
    return value if isinstance(value, str) else items


def _count(name: str) -> Callable[..., Any]:
    def check(value: Any, count: Any, *args: Any, **kwargs: Any) -> Any:
        _check_width(count, name)
        return value

    return check


def _tojson(value: Any, indent: Any = None) -> Any:
    if isinstance(indent, int | str) and not isinstance(indent, bool):
        pad = indent if isinstance(indent, int) else len(indent)
        if pad > 16:
            raise LimitExceeded("tojson indents at most 16 characters")
    return value


_FILTER_CHECKS: dict[str, Callable[..., Any]] = {
    "center": _center,
    "indent": _indent,
    "wordwrap": _wordwrap,
    "format": _format,
    "replace": _replace,
    "join": _join,
    "batch": _count("batch"),
    "slice": _count("slice"),
    "tojson": _tojson,
}


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    """Jinja2's ``lipsum`` with its paragraph count and length bounded."""
    if n * max > 10_000:
        raise LimitExceeded("lipsum makes at most 10,000 words")
    return str(generate_lorem_ipsum(n=n, html=html, min=min, max=max))


class _Rewrite(NodeTransformer):
    """Loops iterate through ``bounded_loop`` and ``~`` joins through ``bounded_concat``."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        body_chars = sum(
            len(data.data) for child in node.body for data in child.find_all(nodes.TemplateData)
        )
        node.iter = _env_call("bounded_loop", [node.iter, nodes.Const(body_chars)], node)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _env_call("bounded_concat", list(node.nodes), node)


def _env_call(name: str, args: list[Any], like: nodes.Node) -> nodes.Call:
    call = nodes.Call(nodes.EnvironmentAttribute(name), args, [], None, None)
    call.set_lineno(like.lineno)
    return call


@pass_context
def _finalize(context: Context, value: Any) -> Any:
    """Count every ``{{ }}`` output against the render's budget.

    Taking the context is also what stops Jinja2 from evaluating constant output at compile
    time (see the module docstring).
    """
    budget = _budget()
    budget.produce(weight(value, OUTPUT_BUDGET_CHARS))
    budget.step()
    return value


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox with a budget per render; see the module docstring."""

    intercepted_binops = frozenset({"*", "+", "%", "**"})

    def __init__(self, **options: Any) -> None:
        super().__init__(optimized=False, finalize=_finalize, **options)
        for name, check in _FILTER_CHECKS.items():
            _guard_filter(self.filters, name, check)
        self.globals["lipsum"] = _lipsum

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        rewritten = _Rewrite().visit(tree)
        assert isinstance(rewritten, nodes.Template)
        rewritten.set_environment(self)
        return rewritten

    def bounded_loop(self, iterable: Iterable[Any], body_chars: int) -> Iterator[Any]:
        """What every ``{% for %}`` iterates: the iterable, each pass counted."""
        budget = _budget()
        for item in iterable:
            budget.iterate(body_chars)
            yield item

    def bounded_concat(self, *parts: Any) -> str:
        """``a ~ b``, refused before joining when the result would be over the limit."""
        _refuse_size("'~'", sum(weight(part, VALUE_MAX_CHARS + 1) for part in parts))
        return "".join([str(part) for part in parts])

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _budget().step()
        if operator == "*":
            _check_multiply(left, right)
        elif operator == "+":
            if isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
                _refuse_size("'+'", weight(left) + weight(right))
        elif operator == "%":
            if isinstance(left, str):
                check_percent(left, right)
        elif isinstance(left, int) and isinstance(right, int) and right > 0:  # '**'
            bits = max(1, abs(left).bit_length() - 1) * right if abs(left) > 1 else 1
            if bits > INT_MAX_BITS:
                raise LimitExceeded(f"'**' would make a number of about {bits:,} bits")
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _budget().step()
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            args = _check_str_call(owner, getattr(__obj, "__name__", ""), args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapper = super().wrap_str_format(value)
        if wrapper is None:
            return None
        fmt: str = value.__self__
        is_map = value.__name__ == "format_map"

        @functools.wraps(wrapper)
        def bounded(*args: Any, **kwargs: Any) -> str:
            if is_map and args and isinstance(args[0], Mapping):
                check_format(fmt, args[0].values())
            else:
                check_format(fmt, [*args, *kwargs.values()])
            return wrapper(*args, **kwargs)

        return bounded


def _check_multiply(left: Any, right: Any) -> None:
    if isinstance(left, int) and isinstance(right, int):
        bits = abs(left).bit_length() + abs(right).bit_length()
        if bits > INT_MAX_BITS:
            raise LimitExceeded(f"'*' would make a number of about {bits:,} bits")
        return
    sequence, times = (left, right) if isinstance(right, int) else (right, left)
    if isinstance(sequence, str | list | tuple) and isinstance(times, int) and times > 1:
        _refuse_size("'*'", weight(sequence) * times if sequence else 0)
