"""Tableau's error envelope, in either dialect or none, becomes one exception."""

from __future__ import annotations

import httpx

from tabhooks.tableau.client import parse_error, tsrequest


def _response(status: int, body: bytes, content_type: str) -> httpx.Response:
    return httpx.Response(status, content=body, headers={"content-type": content_type})


def test_parse_error_xml_envelope_gives_code_summary_detail() -> None:
    body = (
        b'<tsResponse xmlns="http://tableau.com/api"><error code="401001">'
        b"<summary>Signin Error</summary><detail>Error signing in</detail></error></tsResponse>"
    )
    error = parse_error(_response(401, body, "application/xml"))
    assert (error.status, error.code, error.summary, error.detail) == (
        401, "401001", "Signin Error", "Error signing in"
    )  # fmt: skip


def test_parse_error_json_envelope_gives_code_summary_detail() -> None:
    body = b'{"error": {"code": "404060", "summary": "Not Found", "detail": "No webhook"}}'
    error = parse_error(_response(404, body, "application/json"))
    assert (error.code, error.summary, error.detail) == ("404060", "Not Found", "No webhook")


def test_parse_error_anything_else_keeps_the_status_and_a_bit_of_the_body() -> None:
    error = parse_error(_response(502, b"<html>Bad gateway</html>", "text/html"))
    assert error.code == "502" and "Bad gateway" in error.detail


def test_parse_error_redirect_names_where_it_points() -> None:
    response = httpx.Response(301, headers={"location": "https://elsewhere.example.com/"})
    assert "https://elsewhere.example.com/" in parse_error(response).detail


def test_tsrequest_escapes_attribute_values() -> None:
    import xml.etree.ElementTree as ET

    body = tsrequest(ET.Element("webhook", name='a "quoted" <name> & more'))
    assert ET.fromstring(body).find("webhook").get("name") == 'a "quoted" <name> & more'  # type: ignore[union-attr]
