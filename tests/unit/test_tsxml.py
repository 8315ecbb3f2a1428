"""The wire format: one tree, two dialects, and sniffed request bodies."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tabhooks import tsxml
from tabhooks.errors import BadRequest
from tabhooks.tsxml import Dialect, element, listing

NS = {"t": tsxml.NAMESPACE}


def _webhooks_tree() -> list[tsxml.Element]:
    hooks = [
        element(
            "webhook",
            element("webhook-source", element("webhook-source-event-workbook-created")),
            id=f"id-{i}",
            isEnabled=True,
            statusChangeReason="",
        )
        for i in range(2)
    ]
    return [listing("webhooks", hooks)]


def test_render_xml_is_namespaced_with_tableau_prolog() -> None:
    body = tsxml.render(_webhooks_tree(), Dialect.XML).decode()
    assert body.startswith(
        "<?xml version='1.0' encoding='UTF-8'?><tsResponse xmlns=\"http://tableau.com/api\""
    )
    root = ET.fromstring(body)
    hooks = root.findall("t:webhooks/t:webhook", NS)
    assert [h.get("id") for h in hooks] == ["id-0", "id-1"]
    assert hooks[0].get("isEnabled") == "true"
    assert hooks[0].find("t:webhook-source/t:webhook-source-event-workbook-created", NS) is not None


def test_render_json_drops_root_and_makes_lists_arrays() -> None:
    body = json.loads(tsxml.render(_webhooks_tree(), Dialect.JSON))
    assert body["webhooks"]["webhook"][0] == {
        "id": "id-0",
        "isEnabled": True,
        "statusChangeReason": "",
        "webhook-source": {"webhook-source-event-workbook-created": {}},
    }


def test_render_json_single_item_list_is_still_an_array() -> None:
    body = json.loads(tsxml.render([listing("users", [element("user", id="u")])], Dialect.JSON))
    assert body == {"users": {"user": [{"id": "u"}]}}


def test_render_json_empty_list_is_empty_object() -> None:
    assert json.loads(tsxml.render([listing("webhooks", [])], Dialect.JSON)) == {"webhooks": {}}


def test_render_json_text_elements() -> None:
    tree = element(
        "serverInfo",
        element("productVersion", text="2026.1.0", build="b1"),
        element("restApiVersion", text="3.28"),
    )
    assert json.loads(tsxml.render([tree], Dialect.JSON)) == {
        "serverInfo": {
            "productVersion": {"value": "2026.1.0", "build": "b1"},
            "restApiVersion": "3.28",
        }
    }


def test_render_json_numbers_are_strings_and_none_is_omitted() -> None:
    tree = element("pagination", pageNumber=1, pageSize=100, totalAvailable=0, missing=None)
    assert json.loads(tsxml.render([tree], Dialect.JSON)) == {
        "pagination": {"pageNumber": "1", "pageSize": "100", "totalAvailable": "0"}
    }


@pytest.mark.parametrize(
    ("accept", "dialect"),
    [
        (None, Dialect.XML),
        ("*/*", Dialect.XML),
        ("application/xml", Dialect.XML),
        ("application/json", Dialect.JSON),
        ("Application/JSON; q=0.9, */*", Dialect.JSON),
    ],
)
def test_choose_dialect(accept: str | None, dialect: Dialect) -> None:
    assert tsxml.choose_dialect(accept) is dialect


def test_parse_xml_with_and_without_namespace() -> None:
    for body in (
        b'<tsRequest><credentials name="a"><site contentUrl="x"/></credentials></tsRequest>',
        b'<?xml version="1.0"?><tsRequest xmlns="http://tableau.com/api"><credentials name="a">'
        b'<site contentUrl="x"/></credentials></tsRequest>',
    ):
        tree = tsxml.parse_request(body)
        credentials = tree.child("credentials")
        assert credentials is not None and credentials.attr("name") == "a"
        assert credentials.child("site").attr("contentUrl") == "x"


def test_parse_json_maps_objects_to_children_and_scalars_to_attributes() -> None:
    tree = tsxml.parse_request(
        b'{"webhook": {"name": "n", "isEnabled": "false", "webhook-source": '
        b'{"webhook-source-event-workbook-created": {}}, "count": 3, "gone": null}}'
    )
    webhook = tree.child("webhook")
    assert webhook.attr("name") == "n"
    assert webhook.attr_bool("isEnabled") is False
    assert webhook.attr("count") == "3"
    assert webhook.attr("gone") is None
    assert webhook.child("webhook-source").child("webhook-source-event-workbook-created")


def test_parse_json_real_booleans() -> None:
    webhook = tsxml.parse_request(b'{"webhook": {"isEnabled": true}}').child("webhook")
    assert webhook.attr_bool("isEnabled") is True
    assert webhook.attr("isEnabled") == "true"


def test_attr_bool_rejects_nonsense() -> None:
    webhook = tsxml.parse_request(b'<tsRequest><webhook isEnabled="maybe"/></tsRequest>').child(
        "webhook"
    )
    with pytest.raises(BadRequest, match="isEnabled"):
        webhook.attr_bool("isEnabled")


def test_parse_empty_body_is_empty_request() -> None:
    assert tsxml.parse_request(b"  \n").children == []


def test_parse_utf8_bom() -> None:
    assert tsxml.parse_request("\ufeff<tsRequest/>".encode()).tag == "tsRequest"


@pytest.mark.parametrize(
    "body",
    [
        b"<tsRequest>",
        b"<!DOCTYPE x [<!ENTITY a 'b'>]><tsRequest>&a;</tsRequest>",
        b"<other/>",
        b"{",
        b"[]",
        b"nonsense",
        b"\xff\xfe",
    ],
)
def test_parse_bad_bodies_raise_bad_request(body: bytes) -> None:
    with pytest.raises(BadRequest):
        tsxml.parse_request(body)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"<tsRequest>" + b"<a>" * 2000 + b"</a>" * 2000 + b"</tsRequest>", "nested too deeply"),
        (b"<tsRequest>" + b"<a/>" * (tsxml.XML_MAX_ELEMENTS + 1) + b"</tsRequest>", "elements"),
        (b'{"user": {"name": "\\ud800"}}', "surrogate"),
        (b'{"user": {"name": ' + b"1" * 5000 + b"}}", "number longer"),
        (b'{"a": ' * 5000 + b"1" + b"}" * 5000, "nested too deeply"),
    ],
    ids=["xml-2000-deep", "xml-too-many-elements", "json-lone-surrogate", "json-long-number",
         "json-deep"],
)  # fmt: skip
def test_parse_hostile_bodies_raise_bad_request(body: bytes, says: str) -> None:
    with pytest.raises(BadRequest, match=says):
        tsxml.parse_request(body)


def test_parse_xml_text_is_what_comes_before_the_first_child() -> None:
    tree = tsxml.parse_request(
        b"<tsRequest><tag> a <x/> tail </tag><empty>  </empty><v>3.28</v></tsRequest>"
    )
    assert [(c.tag, c.text) for c in tree.children] == [
        ("tag", "a"),
        ("empty", None),
        ("v", "3.28"),
    ]
    assert tree.child("tag").children[0].text is None


def test_timestamp_exact_format() -> None:
    moment = datetime(2026, 11, 23, 18, 5, 9, 123456, tzinfo=timezone(timedelta(hours=2)))
    assert tsxml.timestamp(moment) == "2026-11-23T16:05:09Z"
    assert tsxml.timestamp(None) is None
    assert tsxml.timestamp(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05Z"


@pytest.mark.parametrize(
    "value",
    ["", "plain", "https://h.example.com/?a=1&b=2", 'say "hi"', "<tag>", "a\tb\nc\rd", "ünï ☃"],
)
def test_escape_attr_skips_only_values_needing_nothing(value: str) -> None:
    expected = (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("\n", "&#10;")
        .replace("\r", "&#13;")
        .replace("\t", "&#09;")
    )
    assert tsxml.escape_attr(value) == expected


def test_scrub_writes_out_what_xml_cannot_carry() -> None:
    assert tsxml.scrub("not '\x08' \x00 \ud800 \uffff") == "not '\\x08' \\x00 \\ud800 \\uffff"
    kept = "tab\tline\nreturn\r 报表 \U0001f600"
    assert tsxml.scrub(kept) is kept
    document = tsxml.render([element("error", element("detail", text=tsxml.scrub("\x1b[31m")))],
                            Dialect.XML)  # fmt: skip
    assert ET.fromstring(document).find("t:error/t:detail", NS).text == "\\x1b[31m"
