"""Reading published files: what is kept, and the caps that keep a hostile file cheap."""

from __future__ import annotations

import io
import tracemalloc
import zipfile

import pytest

from tabhooks.errors import BadRequest, PayloadTooLarge
from tabhooks.tableau_files import (
    PACKAGE_MAX_ENTRIES,
    FoundConnection,
    FoundView,
    ParseLimits,
    parse,
)

WORKBOOK = b"""<?xml version='1.0' encoding='utf-8' ?>
<workbook xmlns:user="http://www.tableausoftware.com/xml/user">
  <datasources><datasource name="d">
    <connection class="federated"><named-connections><named-connection>
      <connection class="postgres" server="db.example.com" port="5432" dbname="sales"
                  username="etl"/>
    </named-connection></named-connections></connection>
    <extract enabled="true"/>
  </datasource></datasources>
  <worksheets><worksheet name="Sheet 1"/><worksheet name="Sheet 2"/></worksheets>
  <dashboards><dashboard name="Overview"/></dashboards>
  <stories><story name="Tale"/></stories>
</workbook>"""


def packaged(xml: bytes, name: str = "book.twb", **extra: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr(name, xml)
        for member, data in extra.items():
            package.writestr(member, data)
    return buffer.getvalue()


def test_parse_workbook_keeps_connections_views_and_extract() -> None:
    with_extract = packaged(WORKBOOK, **{"Data/Extracts/d.hyper": b"hyper"})
    for parsed in (parse("b.twb", WORKBOOK), parse("b.twbx", with_extract)):
        assert parsed.connections == [
            FoundConnection("postgres", "db.example.com", "5432", "sales", "", "etl")
        ]
        assert parsed.views == [
            FoundView("Sheet 1", "worksheet"),
            FoundView("Sheet 2", "worksheet"),
            FoundView("Overview", "dashboard"),
            FoundView("Tale", "story"),
        ]
        assert parsed.has_extracts
    # A package's extracts are its .hyper/.tde members, not the XML's <extract>.
    assert not parse("b.twbx", packaged(WORKBOOK)).has_extracts


def test_parse_inflated_xml_over_cap_is_too_large() -> None:
    bomb = packaged(b"<workbook>" + b" " * 2_000_000 + b"</workbook>")
    assert len(bomb) < 10_000  # a few KB that inflate to 2 MB
    with pytest.raises(PayloadTooLarge, match="TABHOOKS_MAX_WORKBOOK_XML_BYTES"):
        parse("b.twbx", bomb, limits=ParseLimits(max_xml_bytes=1_000_000))
    with pytest.raises(PayloadTooLarge):
        parse("b.twb", b"<workbook>" + b" " * 2_000_000 + b"</workbook>",
              limits=ParseLimits(max_xml_bytes=1_000_000))  # fmt: skip


def test_parse_member_lying_about_its_size_is_refused() -> None:
    """The zip's declared size is only a first check: inflating is counted too, and a member
    that inflates past what it declared fails its check instead of going on."""
    raw = bytearray(packaged(b"<workbook>" + b" " * 100_000 + b"</workbook>"))
    directory = raw.rfind(b"PK\x01\x02")
    raw[directory + 24 : directory + 28] = (1000).to_bytes(4, "little")  # uncompressed size
    with pytest.raises(BadRequest):
        parse("b.twbx", bytes(raw), limits=ParseLimits(max_xml_bytes=50_000))


def test_parse_more_elements_than_cap_is_refused() -> None:
    xml = b"<workbook>" + b"<a/>" * 5_001 + b"</workbook>"
    with pytest.raises(BadRequest, match="TABHOOKS_MAX_WORKBOOK_ELEMENTS"):
        parse("b.twbx", packaged(xml), limits=ParseLimits(max_elements=5_000))
    assert parse("b.twbx", packaged(xml), limits=ParseLimits(max_elements=5_002)).views == []


def test_parse_more_views_than_cap_is_refused() -> None:
    sheets = b"".join(b'<worksheet name="s%d"/>' % i for i in range(100_000))
    xml = b"<workbook><worksheets>" + sheets + b"</worksheets></workbook>"
    package = packaged(xml)
    assert len(package) < 400_000  # the reported case: 100,000 sheets in a few hundred KB
    with pytest.raises(BadRequest, match="TABHOOKS_MAX_VIEWS_PER_WORKBOOK"):
        parse("b.twbx", package, limits=ParseLimits(max_views=1_000))
    assert len(parse("b.twbx", package, limits=ParseLimits(max_views=100_000)).views) == 100_000


def test_parse_streams_instead_of_holding_the_xml() -> None:
    """1.5 MB of XML inflated from a small package is read with a small, fixed footprint: no
    tree, no inflated copy. (The old reader held both: several times the XML's size.)"""
    xml = b"<workbook>" + b'<column name="c" datatype="string" role="dimension"/>' * 30_000
    xml += b"<worksheets><worksheet name='only'/></worksheets></workbook>"
    assert len(xml) > 1_500_000
    package = packaged(xml)
    tracemalloc.start()
    try:
        parsed = parse("b.twbx", package)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert parsed.views == [FoundView("only", "worksheet")]
    assert peak < 750_000, f"peak {peak} bytes while reading {len(xml)} bytes of XML"


@pytest.mark.parametrize(
    ("name", "data", "says"),
    [
        ("b.twbx", b"not a zip", "not a valid zip"),
        ("b.twbx", packaged(b"<workbook/>", name="other.txt"), "no .twb"),
        ("b.twb", b"<datasource/>", "root <workbook>"),
        ("b.twb", b"<workbook><unclosed></workbook>", "malformed"),
        ("b.twb", b'<!DOCTYPE x [<!ENTITY e "e">]><workbook>&e;</workbook>', "DTD"),
        ("b.tds", b"<workbook/>", "root <datasource>"),
        ("b.hyper", b"", "empty"),
        ("b.docx", b"x", "cannot be published"),
    ],
)
def test_parse_bad_file_is_bad_request(name: str, data: bytes, says: str) -> None:
    with pytest.raises(BadRequest, match=says):
        parse(name, data)


def test_parse_corrupt_deflate_stream_is_bad_request() -> None:
    raw = bytearray(packaged(WORKBOOK * 20))
    start = 30 + len("book.twb")  # the member's data follows its local header
    for i in range(start + 10, start + 60):
        raw[i] ^= 0x55
    with pytest.raises(BadRequest, match=r"could not be read|malformed"):
        parse("b.twbx", bytes(raw))


def test_parse_package_with_too_many_entries_is_refused_before_reading_it() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as package:
        package.writestr("book.twb", WORKBOOK)
        for i in range(PACKAGE_MAX_ENTRIES):
            package.writestr(f"e{i}", b"")
    with pytest.raises(BadRequest, match="more than 10000 entries"):
        parse("b.twbx", buffer.getvalue())
