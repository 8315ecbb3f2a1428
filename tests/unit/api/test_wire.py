"""Query-string and header helpers of the wire layer."""

from __future__ import annotations

from email.message import Message

import pytest
from starlette.requests import Request

from tabhooks.api.wire import MAX_PAGE_NUMBER, attachment, filters_of, page_of
from tabhooks.errors import InvalidParameter


def _request(query: str) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "query_string": query.encode(),
                    "headers": []})  # fmt: skip


@pytest.mark.parametrize(
    "name",
    ["Superstore.twbx", "My Book (v2).twb", "报表.twb", "a\nb.twb", "abc\\", 'q"x.twb', "%41.twb",
     "tab\there.twb", "ümlaut.tds", "\U0001f600.twb"],
)  # fmt: skip
def test_attachment_names_any_file_in_a_valid_header(name: str) -> None:
    header = attachment(name)
    header.encode("latin-1")  # what an HTTP server can send
    assert not any(c in header for c in "\r\n\0")
    parsed = Message()
    parsed["Content-Disposition"] = header  # what TSC does with a download's header
    assert parsed.get_filename() == name


def test_attachment_plain_names_keep_tableaus_form() -> None:
    assert attachment("My Book.twbx") == 'attachment; filename="My Book.twbx"'
    assert attachment("报表.twb") == "attachment; filename*=UTF-8''%E6%8A%A5%E8%A1%A8.twb"


@pytest.mark.parametrize(
    "query",
    ["pageNumber=4611686018427387904", f"pageNumber={MAX_PAGE_NUMBER + 1}", "pageNumber=" + "9" * 5000,
     "pageNumber=-1", "pageNumber=0", "pageNumber=%2B5", "pageNumber=1_0", "pageNumber=%D9%A1",
     "pageSize=1001", "pageSize=abc"],
)  # fmt: skip
def test_page_of_refuses_out_of_range(query: str) -> None:
    with pytest.raises(InvalidParameter):
        page_of(_request(query))


def test_page_of_largest_page_keeps_offset_in_int64() -> None:
    page = page_of(_request(f"pageNumber={MAX_PAGE_NUMBER}&pageSize=1000"))
    assert page.offset < 2**63


@pytest.mark.parametrize(
    "value", ["name:eq:[", "name:in:[a", "name:in:[]", "name:in:[ , ]", "name:in:[a]x"]
)
def test_filters_of_refuses_broken_lists(value: str) -> None:
    with pytest.raises(InvalidParameter):
        filters_of(_request(f"filter={value}"), {"name": {"eq", "in"}})


def test_filters_of_reads_lists_and_values() -> None:
    found = filters_of(_request("filter=name:in:[a, b],projectName:eq:x"), {
        "name": {"in"}, "projectName": {"eq"}})  # fmt: skip
    assert found["name"].values == ("a", "b")
    assert found["projectName"].value == "x"
