"""Reading tsRequest bodies and writing tsResponse documents from Starlette requests.

Handlers call :func:`read_body` and :func:`respond`; everything about dialects, content types,
pagination and Tableau's filter syntax lives here so routers stay about their resource.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from tabhooks import tsxml
from tabhooks.errors import InvalidParameter
from tabhooks.tsxml import Element

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def dialect_of(request: Request) -> tsxml.Dialect:
    return tsxml.choose_dialect(request.headers.get("accept"))


async def read_body(request: Request) -> Element:
    """The request's tsRequest, sniffed as XML or JSON whatever Content-Type claims."""
    return tsxml.parse_request(await request.body())


def respond(
    request: Request,
    *elements: Element,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """A tsResponse containing ``elements`` in the dialect the client asked for."""
    dialect = dialect_of(request)
    return Response(
        tsxml.render(list(elements), dialect),
        status_code=status,
        media_type=dialect.content_type,
        headers=headers,
    )


def base_url(request: Request) -> str:
    """Where clients reach this server: TABHOOKS_PUBLIC_URL, else the request's own base."""
    configured = request.app.state.settings.public_url
    return (configured or str(request.base_url)).rstrip("/")


def no_content() -> Response:
    return Response(status_code=204)


@dataclass(frozen=True, slots=True)
class Page:
    """``pageNumber``/``pageSize`` from the query string, validated as Tableau does."""

    number: int
    size: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    def element(self, total: int) -> Element:
        return tsxml.element(
            "pagination", pageNumber=self.number, pageSize=self.size, totalAvailable=total
        )


def page_of(request: Request) -> Page:
    number = _positive_int(request, "pageNumber", 1)
    size = _positive_int(request, "pageSize", DEFAULT_PAGE_SIZE)
    if size > MAX_PAGE_SIZE:
        raise InvalidParameter(f"pageSize must be at most {MAX_PAGE_SIZE}, not {size}.")
    return Page(number, size)


def _positive_int(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidParameter(f"{name} must be a whole number, not '{raw}'.") from None
    if value < 1:
        raise InvalidParameter(f"{name} must be 1 or more, not {value}.")
    return value


@dataclass(frozen=True, slots=True)
class Condition:
    """One ``field:operator:value`` term of Tableau's ``filter`` parameter."""

    field: str
    operator: str
    values: tuple[str, ...]

    @property
    def value(self) -> str:
        return self.values[0]


_TERM = re.compile(r"([A-Za-z]+):([a-z]+):(\[[^\]]*\]|[^,]*)")


def filters_of(request: Request, allowed: dict[str, set[str]]) -> dict[str, Condition]:
    """Parse ``filter=name:eq:x,projectName:eq:y`` into conditions keyed by field.

    Args:
        allowed: field name → the operators supported for it; anything else is a 400.
    """
    raw = request.query_params.get("filter")
    out: dict[str, Condition] = {}
    if not raw:
        return out
    position = 0
    while position < len(raw):
        match = _TERM.match(raw, position)
        if match is None:
            raise InvalidParameter(
                f"filter '{raw}' is not of the form field:operator:value[,field:operator:value]."
            )
        field, operator, value = match.groups()
        if field not in allowed:
            raise InvalidParameter(
                f"Filtering on '{field}' is not supported; supported: {', '.join(sorted(allowed))}."
            )
        if operator not in allowed[field]:
            raise InvalidParameter(
                f"Operator '{operator}' is not supported for '{field}'; "
                f"supported: {', '.join(sorted(allowed[field]))}."
            )
        if value.startswith("["):
            values = tuple(v.strip() for v in value[1:-1].split(",") if v.strip())
        else:
            values = (value,)
        out[field] = Condition(field, operator, values)
        position = match.end()
        if position < len(raw):
            if raw[position] != ",":
                raise InvalidParameter(f"filter '{raw}' has junk at position {position}.")
            position += 1
    return out
