"""Reading tsRequest bodies and writing tsResponse documents from Starlette requests.

Handlers call :func:`read_body` and :func:`respond`; everything about dialects, content types,
pagination and Tableau's filter syntax lives here so routers stay about their resource.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Set
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, unquote, unquote_plus

from starlette.requests import Request
from starlette.responses import Response

from tabhooks import tsxml
from tabhooks.errors import InvalidParameter
from tabhooks.store import listing
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


def _terms(raw: str) -> Iterator[tuple[str, str, str, tuple[str, ...]]]:
    """The ``(field, operator, raw value, values)`` terms of a ``filter`` parameter.

    Values are split but not yet decoded; a list value (``[a,b]``) gives its items.
    """
    position = 0
    while position < len(raw):
        match = _TERM.match(raw, position)
        if match is None:
            raise InvalidParameter(
                f"filter '{raw}' is not of the form field:operator:value[,field:operator:value]."
            )
        field, operator, value = match.groups()
        if value.startswith("["):
            values = tuple(v.strip() for v in value[1:-1].split(",") if v.strip())
            if not value.endswith("]") or not values:
                raise InvalidParameter(
                    f"filter value '{value[:80]}' must be a list such as [a,b] with at least "
                    "one item."
                )
        else:
            values = (value,)
        yield field, operator, value, values
        position = match.end()
        if position < len(raw):
            if raw[position] != ",":
                raise InvalidParameter(f"filter '{raw}' has junk at position {position}.")
            position += 1


def _check_supported(field: str, operator: str, allowed: Mapping[str, Set[str]]) -> None:
    if field not in allowed:
        raise InvalidParameter(
            f"Filtering on '{field}' is not supported; supported: {', '.join(sorted(allowed))}."
        )
    if operator not in allowed[field]:
        raise InvalidParameter(
            f"Operator '{operator}' is not supported for '{field}'; "
            f"supported: {', '.join(sorted(allowed[field]))}."
        )


def filters_of(request: Request, allowed: dict[str, set[str]]) -> dict[str, Condition]:
    """Parse ``filter=name:eq:x,projectName:eq:y`` into conditions keyed by field.

    Args:
        allowed: field name → the operators supported for it; anything else is a 400.
    """
    raw = request.query_params.get("filter")
    out: dict[str, Condition] = {}
    if not raw:
        return out
    for field, operator, _, values in _terms(raw):
        _check_supported(field, operator, allowed)
        out[field] = Condition(field, operator, values)
    return out


# ----------------------------------------------------------------------------- typed listings

#: Characters no filter value may hold once decoded: C0 controls and DEL. A NUL would reach
#: PostgreSQL (which refuses it, a 500); the others match nothing any name can hold.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NUMBER = re.compile(r"-?[0-9]{1,18}")
#: Most values one ``filter`` may carry over all its terms, and most ``sort`` keys: each value
#: is a bound parameter (SQLite takes 32,766 per statement), each key an ORDER BY term.
MAX_FILTER_VALUES = 1000
MAX_SORT_KEYS = 32


def _decoded(field: str, raw: str, *, plus_is_space: bool = True) -> str:
    """A filter value as Tableau reads it: URL-decoded once more.

    Tableau decodes filter values after splitting the expression, which is why TSC's samples
    ``quote_plus`` names (``Example+1`` finds ``Example 1``) and why a comma can never be part
    of a value, even encoded.
    """
    value = unquote_plus(raw) if plus_is_space else unquote(raw)
    if _CONTROL.search(value):
        raise InvalidParameter(f"The filter value of '{field}' holds a control character.")
    return value


def _typed(spec: listing.Field, field: str, raw: str) -> object:
    # Only text reads "+" as a space (a quote_plus'd name); a date's "+01:00" stays an offset.
    text = spec.kind in (listing.Kind.TEXT, listing.Kind.TAGS)
    value = _decoded(field, raw, plus_is_space=text)
    if spec.kind is listing.Kind.NUMBER:
        if not (value.isascii() and _NUMBER.fullmatch(value)):
            raise InvalidParameter(f"The filter value of '{field}' must be a whole number.")
        return int(value)
    if spec.kind is listing.Kind.BOOL:
        if value.lower() not in ("true", "false"):
            raise InvalidParameter(f"The filter value of '{field}' must be true or false.")
        return value.lower() == "true"
    if spec.kind is listing.Kind.DATE:
        return _moment(field, value)
    return value


def _moment(field: str, value: str) -> datetime:
    """An ISO 8601 moment (Tableau writes ``2026-01-31T12:00:00Z``), as aware UTC."""
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        if not text.isascii() or len(text) > 40:
            raise ValueError(text)
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)  # 0001-01-01T00:00:00+01:00 overflows here
    except (ValueError, OverflowError):
        raise InvalidParameter(
            f"The filter value of '{field}' must be a date and time such as "
            f"2026-01-31T12:00:00Z, not '{value[:40]}'."
        ) from None


def filter_terms(request: Request, catalog: listing.Catalog) -> tuple[listing.Filter, ...]:
    """Every ``filter`` term, checked against ``catalog`` and typed (all must hold)."""
    raw = request.query_params.get("filter")
    if not raw:
        return ()
    allowed = {name: spec.operators for name, spec in catalog.items()}
    out: list[listing.Filter] = []
    count = 0
    for field, operator, value, values in _terms(raw):
        count += len(values)
        if count > MAX_FILTER_VALUES:
            raise InvalidParameter(f"A filter holds at most {MAX_FILTER_VALUES} values.")
        _check_supported(field, operator, allowed)
        if operator != "in" and value.startswith("["):
            raise InvalidParameter(f"Operator '{operator}' takes one value, not a list.")
        spec = catalog[field]
        out.append(listing.Filter(field, operator, tuple(_typed(spec, field, v) for v in values)))
    return tuple(out)


_SORT_KEY = re.compile(r"([A-Za-z]+):(asc|desc)")


def sort_keys(request: Request, catalog: listing.Catalog) -> tuple[listing.Order, ...]:
    """``sort=name:asc,createdAt:desc``: the keys in order, each a sortable field."""
    raw = request.query_params.get("sort")
    if not raw:
        return ()
    names = listing.sortable(catalog)
    keys: list[listing.Order] = []
    parts = raw.split(",")
    if len(parts) > MAX_SORT_KEYS:
        raise InvalidParameter(f"A sort holds at most {MAX_SORT_KEYS} keys.")
    for part in parts:
        match = _SORT_KEY.fullmatch(part.strip())
        if match is None:
            raise InvalidParameter(
                f"sort '{raw[:200]}' must be field:asc or field:desc, comma-separated; "
                f"sortable fields: {', '.join(names)}."
            )
        field, direction = match.groups()
        if field not in names:
            raise InvalidParameter(
                f"Sorting on '{field}' is not supported; supported: {', '.join(names)}."
            )
        keys.append(listing.Order(field, direction == "desc"))
    return tuple(keys)


def listing_of(
    request: Request, catalog: listing.Catalog, page: Page | None = None
) -> listing.Listing:
    """The filters, sort and page of a list request, validated against ``catalog``."""
    page = page or page_of(request)
    return listing.Listing(
        filters=filter_terms(request, catalog),
        order=sort_keys(request, catalog),
        offset=page.offset,
        limit=page.size,
    )


# ----------------------------------------------------------------------------- fields=


@dataclass(frozen=True, slots=True)
class Shape:
    """The fields ``fields=`` may name on one resource (Tableau's "Using Fields").

    Args:
        attrs: the item's own attributes (``name``, ``createdAt``).
        children: child elements by tag, with the attributes that may be named as
            ``child.attr`` (``owner.name``); naming the tag alone keeps the whole child
            (``tags``, ``views``).
    """

    attrs: frozenset[str]
    children: Mapping[str, frozenset[str]]

    def names(self) -> set[str]:
        found = set(self.attrs) | set(self.children) | {"_all_", "_default_"}
        for tag, attrs in self.children.items():
            found |= {f"{tag}.{attr}" for attr in attrs}
        return found


def fields_of(request: Request, shape: Shape) -> frozenset[str] | None:
    """The fields asked for with ``fields=``, or ``None`` for every field (the default)."""
    raw = request.query_params.get("fields")
    if raw is None or raw.strip() == "":
        return None
    asked = frozenset(part.strip() for part in raw.split(",") if part.strip())
    known = shape.names()
    unknown = sorted(asked - known)
    if unknown:
        raise InvalidParameter(
            f"Field '{unknown[0][:80]}' is not supported; supported: {', '.join(sorted(known))}."
        )
    if asked & {"_all_", "_default_"}:
        return None  # everything tabhooks knows is in the default answer already
    return asked


def select_fields(item: Element, asked: frozenset[str] | None) -> Element:
    """``item`` with only the asked fields (attributes, whole children, ``child.attr``)."""
    if asked is None:
        return item
    children: list[Element] = []
    for child in item.children:
        if child.tag in asked:
            children.append(child)
            continue
        attrs = {k: v for k, v in child.attrs.items() if f"{child.tag}.{k}" in asked}
        if attrs:
            children.append(Element(child.tag, attrs))
    attrs = {k: v for k, v in item.attrs.items() if k in asked}
    return Element(item.tag, attrs, children, item.text, item.is_list)
