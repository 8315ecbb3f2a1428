"""Tableau's filtering and sorting, declared once per resource and applied by one function.

Every list method takes ``filter=field:operator:value[,...]`` and ``sort=field:direction[,...]``
(Tableau's "Filtering and Sorting" reference). Each resource declares a :data:`Catalog`: for
every field Tableau documents and tabhooks can answer, the SQL expression behind it, its kind
(text, number, date, boolean, tags) and the operators Tableau allows on it. The API layer reads
the catalog to validate a request (an unknown field or operator is a 400 that lists the
supported ones), and :func:`page` turns the validated :class:`Listing` into SQL, so the fields a
route accepts and the ones it can answer can never drift apart.

Operators, as Tableau defines them:

- ``eq``: equal. On text, ``*`` is a wildcard (starts with, ends with, contains), as Tableau
  Server 2022.1.14+ and Tableau Cloud read it. On tags: the item carries the tag.
- ``cieq``: equal, ignoring case (text).
- ``in``: any of a ``[a,b]`` list. On tags: the item carries any of them.
- ``gt``, ``gte``, ``lt``, ``lte``: numbers and dates.
- ``has``: the text contains the value, ignoring case.
"""

from __future__ import annotations

import operator as operator_module
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Select, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import BindParameter, UnaryExpression


class Kind(StrEnum):
    """How a field's values are read from the query string and compared."""

    #: Free text; ``eq`` takes ``*`` wildcards.
    TEXT = "text"
    #: A whole number.
    NUMBER = "number"
    #: A moment, written ``2026-01-31T12:00:00Z`` (ISO 8601, UTC).
    DATE = "date"
    #: ``true`` or ``false``.
    BOOL = "bool"
    #: The item's tags: a value matches when the item carries it.
    TAGS = "tags"


#: Equality on one value or a list: names, roles, types.
EQ_IN = frozenset({"eq", "in"})
#: Ranges: numbers and dates.
RANGE = frozenset({"eq", "gt", "gte", "lt", "lte"})
#: Exactly equal: booleans, and fields Tableau allows no list on.
EQ = frozenset({"eq"})
#: Every operator Tableau defines.
OPERATORS = frozenset({"eq", "cieq", "in", "gt", "gte", "lt", "lte", "has"})

#: A predicate over a field, given the operator and the values.
Test = Callable[[str, tuple[Any, ...]], ColumnElement[bool]]


@dataclass(frozen=True, slots=True)
class Field:
    """One filterable (and usually sortable) field of a resource.

    Args:
        kind: how values are parsed and compared.
        operators: the operators Tableau documents for the field.
        column: the SQL expression the field reads, over the listing's FROM clause.
        sortable: whether ``sort=`` may name it (tags cannot be sorted).
        fold_case: compare text ignoring case (Tableau's user, project and owner names).
        test: a predicate of its own, for fields that are not a column (tags).
    """

    kind: Kind
    operators: frozenset[str]
    column: ColumnElement[Any] | None = None
    sortable: bool = True
    fold_case: bool = False
    test: Test | None = None


#: A resource's fields by their Tableau name.
Catalog = Mapping[str, Field]


@dataclass(frozen=True, slots=True)
class Filter:
    """One validated ``field:operator:value`` term, its values already typed."""

    field: str
    operator: str
    values: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Order:
    """One ``field:direction`` key of ``sort=``."""

    field: str
    descending: bool = False


@dataclass(frozen=True, slots=True)
class Listing:
    """What one list request asks for: terms (all must hold), sort keys, the page."""

    filters: tuple[Filter, ...] = ()
    order: tuple[Order, ...] = ()
    offset: int = 0
    limit: int = 100
    #: Conditions of the caller's own (which rows this caller may see at all).
    extra: tuple[ColumnElement[bool], ...] = ()


def supported(catalog: Catalog) -> str:
    """The catalog's field names, for the text of a 400."""
    return ", ".join(sorted(catalog))


def sortable(catalog: Catalog) -> list[str]:
    return sorted(name for name, spec in catalog.items() if spec.sortable)


def escape_like(text: str) -> str:
    """``text`` as a LIKE pattern matching itself (escape character ``\\``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _text(spec: Field, column: ColumnElement[Any], value: Any) -> tuple[ColumnElement[Any], Any]:
    if spec.fold_case:
        return func.lower(column), str(value).lower()
    return column, value


def _equal(spec: Field, column: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
    if spec.kind is Kind.TEXT and isinstance(value, str) and "*" in value:
        pattern = "%".join(escape_like(part) for part in value.split("*"))
        left, right = _text(spec, column, pattern)
        return left.like(right, escape="\\")
    if spec.kind is Kind.TEXT:
        column, value = _text(spec, column, value)
    same: ColumnElement[bool] = column == value
    return same


_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "gt": operator_module.gt,
    "gte": operator_module.ge,
    "lt": operator_module.lt,
    "lte": operator_module.le,
}


def condition(spec: Field, operator: str, values: tuple[Any, ...]) -> ColumnElement[bool]:
    """The SQL condition of one term."""
    if spec.test is not None:
        return spec.test(operator, values)
    column = spec.column
    if column is None:  # pragma: no cover - a catalog bug, caught by the catalog tests
        raise ValueError("a field needs a column or a test")
    value = values[0]
    if operator == "eq":
        return _equal(spec, column, value)
    if operator == "cieq":
        return _equal(Field(Kind.TEXT, EQ, fold_case=True), column, str(value))
    if operator == "in":
        if spec.fold_case:
            return func.lower(column).in_([str(v).lower() for v in values])
        return column.in_(values)
    if operator == "has":
        return func.lower(column).like(f"%{escape_like(str(value).lower())}%", escape="\\")
    compared: ColumnElement[bool] = _COMPARE[operator](column, value)
    return compared


def where(catalog: Catalog, filters: Sequence[Filter]) -> list[ColumnElement[bool]]:
    return [condition(catalog[f.field], f.operator, f.values) for f in filters]


def order_by(
    catalog: Catalog, order: Sequence[Order], default: Sequence[Order], tiebreak: ColumnElement[Any]
) -> list[UnaryExpression[Any] | ColumnElement[Any]]:
    """ORDER BY for the keys asked (or ``default``), then ``tiebreak`` so pages never overlap."""
    keys: list[UnaryExpression[Any] | ColumnElement[Any]] = []
    for key in order or default:
        column = catalog[key.field].column
        if column is None or isinstance(column, BindParameter):
            continue  # a constant orders nothing (and SQLite reads ORDER BY 0 as a position)
        keys.append(column.desc() if key.descending else column.asc())
    keys.append(tiebreak)
    return keys


async def page(
    conn: AsyncConnection,
    statement: Select[Any],
    catalog: Catalog,
    listing: Listing,
    *,
    default: Sequence[Order],
    tiebreak: ColumnElement[Any],
) -> tuple[list[Any], int]:
    """One page of ``statement`` under the listing's terms and sort, and the total matching."""
    statement = statement.where(*where(catalog, listing.filters), *listing.extra)
    total = (
        await conn.execute(select(func.count()).select_from(statement.subquery()))
    ).scalar_one()
    ordered = statement.order_by(*order_by(catalog, listing.order, default, tiebreak))
    rows = await conn.execute(ordered.offset(listing.offset).limit(listing.limit))
    return list(rows), int(total)


def constant(value: str | int | bool) -> ColumnElement[Any]:
    """A field every row has the same value of (``ownerDomain`` is ``local`` for every user)."""
    return literal(value)


__all__ = [
    "EQ",
    "EQ_IN",
    "OPERATORS",
    "RANGE",
    "Catalog",
    "Field",
    "Filter",
    "Kind",
    "Listing",
    "Order",
    "condition",
    "constant",
    "escape_like",
    "order_by",
    "page",
    "sortable",
    "supported",
    "where",
]
