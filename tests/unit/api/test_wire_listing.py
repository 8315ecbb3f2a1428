"""Tableau's filter, sort and fields parameters as the wire layer reads them against a catalog,
and the SQL the store's listing module makes of them (compiled, not run)."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

import pytest
from sqlalchemy.dialects import postgresql, sqlite
from starlette.requests import Request

from tabhooks.api.wire import (
    MAX_FILTER_VALUES,
    MAX_SORT_KEYS,
    Shape,
    fields_of,
    filter_terms,
    listing_of,
    select_fields,
    sort_keys,
)
from tabhooks.errors import InvalidParameter
from tabhooks.store import listing
from tabhooks.store.contents import WORKBOOK_FIELDS
from tabhooks.store.jobs import JOB_FIELDS
from tabhooks.tsxml import element
from tabhooks.tsxml import listing as tag_list


def _request(query: str) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "query_string": query.encode(),
                    "headers": []})  # fmt: skip


def _q(**params: str) -> Request:
    return _request("&".join(f"{k}={quote(v, safe='')}" for k, v in params.items()))


def test_filter_terms_are_typed_by_field_kind() -> None:
    terms = filter_terms(
        _q(filter="createdAt:gte:2026-01-31T12:00:00Z,sheetCount:lt:5,hasExtracts:eq:TRUE,"
           "name:in:[a,b],createdAt:lt:2026-02-01T00:00:00+01:00"),
        WORKBOOK_FIELDS,
    )  # fmt: skip
    assert [(t.field, t.operator, t.values) for t in terms] == [
        ("createdAt", "gte", (datetime(2026, 1, 31, 12, tzinfo=UTC),)),
        ("sheetCount", "lt", (5,)),
        ("hasExtracts", "eq", (True,)),
        ("name", "in", ("a", "b")),
        ("createdAt", "lt", (datetime(2026, 1, 31, 23, tzinfo=UTC),)),
    ]


def test_filter_values_are_decoded_once_more_as_tableau_does() -> None:
    # TSC's samples quote_plus names ("Example 1!" is "Example+1%21"), then requests encodes
    # the parameter: the server reads "Example+1%21" from the query string, and decodes it.
    (term,) = filter_terms(_q(filter="name:eq:Example+1%21"), WORKBOOK_FIELDS)
    assert term.values == ("Example 1!",)


@pytest.mark.parametrize(
    "expression",
    [
        "nope:eq:x",  # unknown field
        "name:gt:x",  # operator the field does not take
        "createdAt:eq:yesterday",
        "createdAt:eq:0001-01-01T00:00:00+05:00",  # overflows once in UTC
        "createdAt:eq:9999-12-31T23:59:59-05:00",
        "sheetCount:eq:1.5",
        "sheetCount:eq:" + "9" * 19,
        "hasExtracts:eq:yes",
        "name:eq:[a,b]",  # a list for an operator taking one value
        "name:eq:a%00b",  # a NUL once decoded again
        "name:eq:a%0Ab",
    ],
)
def test_bad_terms_are_refused(expression: str) -> None:
    with pytest.raises(InvalidParameter):
        filter_terms(_q(filter=expression), WORKBOOK_FIELDS)


def test_unknown_field_names_every_supported_one() -> None:
    with pytest.raises(InvalidParameter) as refused:
        filter_terms(_q(filter="nope:eq:x"), JOB_FIELDS)
    for field in JOB_FIELDS:
        assert field in str(refused.value)


def test_filter_and_sort_sizes_are_bounded() -> None:
    values = ",".join("a" * 1 for _ in range(MAX_FILTER_VALUES + 1))
    with pytest.raises(InvalidParameter):
        filter_terms(_q(filter=f"name:in:[{values}]"), WORKBOOK_FIELDS)
    with pytest.raises(InvalidParameter):
        sort_keys(_q(sort=",".join(["name:asc"] * (MAX_SORT_KEYS + 1))), WORKBOOK_FIELDS)


def test_sort_keys_keep_their_order_and_refuse_tags() -> None:
    keys = sort_keys(_q(sort="projectName:asc,name:desc"), WORKBOOK_FIELDS)
    assert keys == (listing.Order("projectName"), listing.Order("name", descending=True))
    for bad in ("tags:asc", "name", "name:up", "name:asc,"):
        with pytest.raises(InvalidParameter):
            sort_keys(_q(sort=bad), WORKBOOK_FIELDS)


def test_listing_of_takes_the_page() -> None:
    query = listing_of(_q(pageNumber="3", pageSize="10", filter="name:eq:x"), WORKBOOK_FIELDS)
    assert (query.offset, query.limit, len(query.filters)) == (20, 10, 1)


SHAPE = Shape(frozenset({"id", "name"}), {"owner": frozenset({"id", "name"}), "tags": frozenset()})


def test_fields_pick_attributes_children_and_child_attributes() -> None:
    item = element(
        "workbook",
        element("owner", id="o", name="admin"),
        tag_list("tags", [element("tag", label="x")]),
        id="w",
        name="Sales",
    )
    asked = fields_of(_q(fields="name,owner.name"), SHAPE)
    picked = select_fields(item, asked)
    assert picked.attrs == {"name": "Sales"}
    assert [(c.tag, c.attrs) for c in picked.children] == [("owner", {"name": "admin"})]
    whole = select_fields(item, fields_of(_q(fields="tags"), SHAPE))
    assert [c.tag for c in whole.children] == ["tags"] and whole.children[0].children
    assert fields_of(_q(fields="_all_"), SHAPE) is None
    assert fields_of(_q(fields="_default_,owner.name"), SHAPE) is None
    with pytest.raises(InvalidParameter):
        fields_of(_q(fields="name,owner.email"), SHAPE)


def _sql(expression: object, dialect: object) -> str:
    compiled = expression.compile(dialect=dialect, compile_kwargs={"literal_binds": True})  # type: ignore[attr-defined]
    return str(compiled).replace("%%", "%")  # psycopg's paramstyle doubles a literal %


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()])
def test_wildcards_and_has_escape_like_characters(dialect: object) -> None:
    name = WORKBOOK_FIELDS["name"]
    wild = _sql(listing.condition(name, "eq", ("50%_off*",)), dialect)
    assert "LIKE '50\\%\\_off%'" in wild
    owner = WORKBOOK_FIELDS["ownerName"]
    has = _sql(listing.condition(owner, "has", ("A_b",)), dialect)
    assert "lower(" in has and "'%a\\_b%'" in has
    plain = _sql(listing.condition(name, "eq", ("Sales",)), dialect)
    assert "LIKE" not in plain and "= 'Sales'" in plain
