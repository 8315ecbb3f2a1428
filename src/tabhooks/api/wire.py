"""Reading tsRequest bodies and writing tsResponse documents from Starlette requests.

Handlers call :func:`read_body` and :func:`respond`; everything about dialects, content types,
pagination and Tableau's filter syntax lives here so routers stay about their resource.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from tabhooks import tsxml
from tabhooks.errors import InvalidParameter
from tabhooks.tsxml import Element

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
#: Largest ``pageNumber`` (Tableau's is a 32-bit int); keeps the row offset inside a 64-bit
#: SQL integer whatever the page size.
MAX_PAGE_NUMBER = 2**31 - 1


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


#: ``attr-char`` of RFC 8187 §3.2.1 besides letters and digits: left unescaped in ``filename*``.
_ATTR_CHARS = "!#$&+-.^_`|~"
#: What may stand in a quoted ``filename="..."`` as is: printable ASCII but quote and backslash.
_PLAIN_FILENAME = re.compile(r"[ !#-\[\]-~]*")


def attachment(filename: str) -> str:
    """The ``Content-Disposition`` of a download called ``filename`` (RFC 6266).

    A name of printable ASCII without a double quote or a backslash goes in
    ``filename="..."``, as Tableau sends it. Any other name (``报表.twb``, a line feed, a
    trailing backslash) would break the header or the connection there, so it goes in
    ``filename*=UTF-8''...``, percent-encoded (RFC 8187), as Starlette's ``FileResponse`` does,
    and alone: clients that read both take the plain one (``email.message`` does, and so TSC),
    which would be a mangled fallback.
    """
    if _PLAIN_FILENAME.fullmatch(filename):
        return f'attachment; filename="{filename}"'
    encoded = quote(filename, safe=_ATTR_CHARS, errors="replace")
    return f"attachment; filename*=UTF-8''{encoded}"


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
    number = _positive_int(request, "pageNumber", 1, MAX_PAGE_NUMBER)
    size = _positive_int(request, "pageSize", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    return Page(number, size)


def _positive_int(request: Request, name: str, default: int, most: int) -> int:
    """A query parameter as an int in [1, most]: plain ASCII digits only (``int()`` would
    also take ``+5``, ``1_000``, other scripts' digits and, slowly, 4,000-digit numbers)."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()):
        raise InvalidParameter(f"{name} must be a whole number, not '{raw[:40]}'.")
    if len(raw.lstrip("0")) > len(str(most)) or int(raw) > most:
        raise InvalidParameter(f"{name} must be at most {most}, not {raw[:40]}.")
    value = int(raw)
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
            if not value.endswith("]") or not values:
                raise InvalidParameter(
                    f"filter value '{value[:80]}' must be a list such as [a,b] with at least "
                    "one item."
                )
        else:
            values = (value,)
        out[field] = Condition(field, operator, values)
        position = match.end()
        if position < len(raw):
            if raw[position] != ",":
                raise InvalidParameter(f"filter '{raw}' has junk at position {position}.")
            position += 1
    return out
