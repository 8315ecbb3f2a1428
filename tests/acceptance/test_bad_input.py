"""Everything a client can get wrong gets Tableau's error envelope, never a 5xx."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import httpx
import pytest

from tests.support.server import ADMIN_PASSWORD, ADMIN_USERNAME, ServerProcess

NS = {"t": "http://tableau.com/api"}

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<tsRequest><credentials name="&lol4;" password="x"><site contentUrl=""/></credentials></tsRequest>"""

XXE = """<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<tsRequest><credentials name="&x;" password="x"><site contentUrl=""/></credentials></tsRequest>"""

GOOD_SIGNIN = (
    f'<tsRequest><credentials name="{ADMIN_USERNAME}" password="{ADMIN_PASSWORD}">'
    '<site contentUrl=""/></credentials></tsRequest>'
)

# (id, method, path template, headers, body, expected status, expected code)
# {site} is the admin's site, {other} a site id the token does not belong to.
CASES = [
    (
        "malformed-xml",
        "POST",
        "/api/3.28/auth/signin",
        {},
        b"<tsRequest><credentials",
        400,
        "400000",
    ),
    ("billion-laughs", "POST", "/api/3.28/auth/signin", {}, BILLION_LAUGHS.encode(), 400, "400000"),
    ("xxe", "POST", "/api/3.28/auth/signin", {}, XXE.encode(), 400, "400000"),
    (
        "json-as-xml",
        "POST",
        "/api/3.28/auth/signin",
        {"Content-Type": "application/xml"},
        json.dumps({"credentials": {"name": ADMIN_USERNAME, "password": "wrong"}}).encode(),
        401,
        "401001",
    ),
    (
        "xml-as-json",
        "POST",
        "/api/3.28/auth/signin",
        {"Content-Type": "application/json"},
        b'<tsRequest><credentials name="nobody" password="x"><site contentUrl=""/></credentials></tsRequest>',
        401,
        "401001",
    ),
    ("malformed-json", "POST", "/api/3.28/auth/signin", {}, b'{"credentials": {', 400, "400000"),
    ("json-array", "POST", "/api/3.28/auth/signin", {}, b"[1, 2]", 400, "400000"),
    (
        "json-deep",
        "POST",
        "/api/3.28/auth/signin",
        {},
        b'{"a":' * 5000 + b"1" + b"}" * 5000,
        400,
        "400000",
    ),
    ("not-utf8", "POST", "/api/3.28/auth/signin", {}, b"<tsRequest \xff\xfe/>", 400, "400000"),
    (
        "xml-deep",
        "POST",
        "/api/3.28/auth/signin",
        {},
        b"<tsRequest>" + b"<a>" * 2000 + b"</a>" * 2000 + b"</tsRequest>",
        400,
        "400000",
    ),
    (
        "json-lone-surrogate",
        "POST",
        "/api/3.28/auth/signin",
        {},
        b'{"credentials": {"name": "\\udc00", "password": "x"}}',
        400,
        "400000",
    ),
    (
        "multipart-signin-over-limit",
        "POST",
        "/api/3.28/auth/signin",
        {"Content-Type": "multipart/form-data; boundary=x"},
        b"x" * (2 * 1024 * 1024),
        413,
        "413000",
    ),
    ("plain-text", "POST", "/api/3.28/auth/signin", {}, b"hello", 400, "400000"),
    ("wrong-root", "POST", "/api/3.28/auth/signin", {}, b"<foo/>", 400, "400000"),
    ("empty-body", "POST", "/api/3.28/auth/signin", {}, b"", 400, "400000"),
    ("no-credentials", "POST", "/api/3.28/auth/signin", {}, b"<tsRequest/>", 400, "400000"),
    (
        "huge-body",
        "POST",
        "/api/3.28/auth/signin",
        {},
        b"<tsRequest>" + b" " * (2 * 1024 * 1024) + b"</tsRequest>",
        413,
        "413000",
    ),
    ("unknown-version", "GET", "/api/9.99/serverInfo", {}, b"", 404, "404003"),
    ("garbage-version", "GET", "/api/latest/serverInfo", {}, b"", 404, "404003"),
    ("too-old-version", "POST", "/api/1.0/auth/signin", {}, GOOD_SIGNIN.encode(), 404, "404003"),
    ("unknown-path", "GET", "/api/3.28/nothing/here", {}, b"", 404, "404003"),
    ("unknown-root-path", "GET", "/whatever", {}, b"", 404, "404003"),
    ("wrong-method", "DELETE", "/api/3.28/serverInfo", {}, b"", 405, "405000"),
    ("missing-token", "GET", "/api/3.28/sites/{site}/users", {}, b"", 401, "401000"),
    (
        "bogus-token",
        "GET",
        "/api/3.28/sites/{site}/users",
        {"X-Tableau-Auth": "nope"},
        b"",
        401,
        "401002",
    ),
    (
        "other-site",
        "GET",
        "/api/3.28/sites/{other}/users",
        {"X-Tableau-Auth": "{token}"},
        b"",
        403,
        "403001",
    ),
    (
        "other-site-user",
        "GET",
        "/api/3.28/sites/{other}/users/{user}",
        {"X-Tableau-Auth": "{token}"},
        b"",
        403,
        "403001",
    ),
    (
        "bad-page-size",
        "GET",
        "/api/3.28/sites/{site}/users?pageSize=abc",
        {"X-Tableau-Auth": "{token}"},
        b"",
        400,
        "400006",
    ),
    (
        "page-size-too-big",
        "GET",
        "/api/3.28/sites/{site}/users?pageSize=5000",
        {"X-Tableau-Auth": "{token}"},
        b"",
        400,
        "400006",
    ),
    (
        "page-number-past-int32",
        "GET",
        "/api/3.28/sites/{site}/users?pageNumber=4611686018427387904",
        {"X-Tableau-Auth": "{token}"},
        b"",
        400,
        "400006",
    ),
    (
        "filter-unclosed-list",
        "GET",
        "/api/3.28/sites/{site}/users?filter=name:in:[a",
        {"X-Tableau-Auth": "{token}"},
        b"",
        400,
        "400006",
    ),
    (
        "bad-filter",
        "GET",
        "/api/3.28/sites/{site}/users?filter=name",
        {"X-Tableau-Auth": "{token}"},
        b"",
        400,
        "400006",
    ),
    (
        "unknown-user",
        "GET",
        "/api/3.28/sites/{site}/users/00000000-0000-0000-0000-000000000000",
        {"X-Tableau-Auth": "{token}"},
        b"",
        404,
        "404002",
    ),
    (
        "bad-site-role",
        "POST",
        "/api/3.28/sites/{site}/users",
        {"X-Tableau-Auth": "{token}"},
        b'<tsRequest><user name="x" siteRole="Boss"/></tsRequest>',
        400,
        "400000",
    ),
    (
        "unknown-site-signin",
        "POST",
        "/api/3.28/auth/signin",
        {},
        GOOD_SIGNIN.replace('contentUrl=""', 'contentUrl="nosuchsite"').encode(),
        401,
        "401001",
    ),
]


@pytest.fixture(scope="module")
def context(server: ServerProcess, admin_token: tuple[str, str, str]) -> dict[str, str]:
    token, site_id, user_id = admin_token
    response = httpx.post(
        f"{server.api()}/sites",
        content=b'<tsRequest><site name="Elsewhere" contentUrl="elsewhere"/></tsRequest>',
        headers={"X-Tableau-Auth": token},
    )
    assert response.status_code == 201, response.text
    other = ET.fromstring(response.content).find("t:site", NS).get("id")
    return {"token": token, "site": site_id, "user": user_id, "other": other}


def _fill(template: str, context: dict[str, str]) -> str:
    return template.format(**context)


@pytest.mark.parametrize("dialect", ["xml", "json"])
@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "status", "code"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_bad_input_gets_tableau_error(
    server: ServerProcess,
    context: dict[str, str],
    dialect: str,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes,
    status: int,
    code: str,
) -> None:
    sent_headers = {k: _fill(v, context) for k, v in headers.items()}
    if dialect == "json":
        sent_headers["Accept"] = "application/json"
    response = httpx.request(
        method,
        server.base_url + _fill(path, context),
        headers=sent_headers,
        content=body,
        timeout=30,
    )
    assert response.status_code < 500
    assert response.status_code == status, response.text
    if dialect == "json":
        assert response.headers["content-type"] == "application/json;charset=utf-8"
        error = response.json()["error"]
        assert error["code"] == code
        assert error["summary"] and error["detail"]
    else:
        assert response.headers["content-type"] == "application/xml;charset=utf-8"
        error = ET.fromstring(response.content).find("t:error", NS)
        assert error is not None, response.text
        assert error.get("code") == code
        assert error.find("t:summary", NS).text and error.find("t:detail", NS).text
    assert code[:3] == str(status)
    assert "Traceback" not in response.text


def test_streamed_body_over_limit_is_refused(server: ServerProcess) -> None:
    """A chunked body with no Content-Length is cut off once it passes the limit."""

    def chunks():
        yield b"<tsRequest>"
        for _ in range(40):
            yield b" " * 65536
        yield b"</tsRequest>"

    response = httpx.post(f"{server.api()}/auth/signin", content=chunks(), timeout=30)
    assert response.status_code == 413
