"""Hypothesis against Tableau's routes: generated XML and JSON bodies, query strings, headers
and uploads. Whatever arrives, the answer is never a 5xx, errors carry Tableau's envelope, and
the server keeps answering (see :mod:`tests.fuzz.properties` and the fuzz conftest).

Seeded (``derandomize``) and bounded (``max_examples``), so a run is repeatable and takes
seconds per test; ``deadline=None`` because a real server's timing is not the property. The
bodies mix the shape each route reads (so cases reach the services) with any shape at all and
the hostile shapes of :mod:`tests.fuzz.strategies`.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import quoteattr

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz import strategies as fz
from tests.fuzz.conftest import Target
from tests.fuzz.properties import Sent

#: A failing case that carries a 4,000-digit parameter is worth reporting in full.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

FUZZ = settings(
    max_examples=120,
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_DIALECTS = st.sampled_from(
    [{}, {"Accept": "application/json"}, {"Content-Type": "application/json"}]
)
#: Things made once per run, through the API, for cases to act on.
_known: dict[str, str] = {}


def _send(
    target: Target,
    method: str,
    path: str,
    *,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    auth: bool = True,
) -> httpx.Response:
    sent_headers = dict(headers or {})
    if auth:
        sent_headers.setdefault("X-Tableau-Auth", target.token)
    request = target.http.build_request(
        method, path, content=content, headers=sent_headers, params=params
    )
    summary = f"params={params!r} headers={headers!r} body={(content or b'')[:300]!r}"
    return target.referee.send(target.http, request, Sent(method, path, summary))


def _shaped(element: str, attributes: tuple[str, ...]) -> st.SearchStrategy[bytes]:
    """XML or JSON bodies for a route reading ``<element attributes…>``, and any others."""
    as_json = st.fixed_dictionaries(
        {element: st.dictionaries(st.sampled_from(attributes), fz.json_values, max_size=4)}
    )
    return fz.xml_bodies(fz.shaped_xml(element, attributes)) | fz.json_bodies(as_json)


# -- sign-in ----------------------------------------------------------------------------------

_CREDENTIALS = ("name", "password", "personalAccessTokenName", "personalAccessTokenSecret", "jwt")


@FUZZ
@given(body=_shaped("credentials", _CREDENTIALS), dialect=_DIALECTS)
def test_sign_in_bodies(target: Target, body: bytes, dialect: dict[str, str]) -> None:
    _send(target, "POST", "/api/3.28/auth/signin", content=body, headers=dialect, auth=False)


@FUZZ
@given(headers=fz.headers(), body=st.none() | fz.xml_bodies())
def test_headers(target: Target, headers: dict[str, str], body: bytes | None) -> None:
    """Any Accept, Content-Type and token on a read and on a sign-in."""
    _send(target, "GET", f"{target.api}/webhooks", headers=headers, auth=False)
    _send(target, "POST", "/api/3.28/auth/signin", content=body, headers=headers, auth=False)


# -- creating and changing ---------------------------------------------------------------------

_WEBHOOK = ("name", "event", "isEnabled", "statusChangeReason")
_WEBHOOK_JSON = st.fixed_dictionaries(
    {
        "webhook": st.fixed_dictionaries(
            {},
            optional={
                "name": fz.json_values,
                "event": fz.json_values,
                "isEnabled": fz.json_values,
                "webhook-destination": st.fixed_dictionaries(
                    {
                        "webhook-destination-http": st.dictionaries(
                            st.sampled_from(["method", "url"]), fz.json_values, max_size=2
                        )
                    }
                ),
            },
        )
    }
)


@FUZZ
@given(
    body=fz.xml_bodies(fz.shaped_xml("webhook", _WEBHOOK)) | fz.json_bodies(_WEBHOOK_JSON),
    dialect=_DIALECTS,
    method=st.sampled_from(["POST", "PUT"]),
)
def test_webhook_bodies(target: Target, body: bytes, dialect: dict[str, str], method: str) -> None:
    path = f"{target.api}/webhooks"
    if method == "PUT":
        path += f"/{_webhook(target)}"
    _send(target, method, path, content=body, headers=dialect)


#: What each create reads: collection -> (element, attributes).
_CREATES = {
    "users": ("user", ("name", "siteRole", "authSetting", "email", "fullName")),
    "projects": ("project", ("name", "description", "parentProjectId", "contentPermissions")),
    "warnings": ("dataQualityWarning", ("type", "message", "isActive", "isSevere")),
    "sites": ("site", ("name", "contentUrl", "adminMode", "state")),
}


@FUZZ
@given(
    create=st.sampled_from(sorted(_CREATES)).flatmap(
        lambda c: st.tuples(st.just(c), _shaped(*_CREATES[c]))
    ),
    dialect=_DIALECTS,
)
def test_create_bodies(target: Target, create: tuple[str, bytes], dialect: dict[str, str]) -> None:
    """Add user, create project, add a data quality warning, create site."""
    collection, body = create
    path = {
        "sites": "/api/3.28/sites",
        "warnings": f"{target.api}/dataQualityWarnings/datasource/{_datasource(target)}",
    }.get(collection, f"{target.api}/{collection}")
    _send(target, "POST", path, content=body, headers=dialect)


# -- listing ------------------------------------------------------------------------------------


@FUZZ
@given(
    collection=st.sampled_from(
        ["users", "projects", "workbooks", "datasources", "flows", "views", "jobs", "webhooks"]
    ),
    params=fz.query_strings(),
    dialect=_DIALECTS,
)
def test_listing_queries(
    target: Target, collection: str, params: dict[str, str], dialect: dict[str, str]
) -> None:
    _send(target, "GET", f"{target.api}/{collection}", params=params, headers=dialect)


@FUZZ
@given(params=fz.query_strings())
def test_site_listing_queries(target: Target, params: dict[str, str]) -> None:
    _send(target, "GET", "/api/3.28/sites", params=params)


# -- uploads --------------------------------------------------------------------------------------


def _payload(kind: str) -> st.SearchStrategy[bytes]:
    named = st.text(fz.XML_TEXT, min_size=1, max_size=30).map(
        lambda n: f"<tsRequest><{kind} name={quoteattr(n)}/></tsRequest>".encode()
    )
    return st.one_of(named, named, fz.xml_bodies())


@FUZZ
@given(data=st.data(), kind=st.sampled_from(["workbook", "datasource"]))
def test_uploads(target: Target, data: st.DataObject, kind: str) -> None:
    """Publish with a fuzzed payload, boundary, file name and package; download what went in."""
    payload = data.draw(_payload(kind))
    body, content_type = data.draw(fz.multipart_bodies(payload, f"tableau_{kind}", kind))
    params: dict[str, Any] = data.draw(
        st.fixed_dictionaries(
            {},
            optional={
                "overwrite": st.sampled_from(["true", "false", "x"]),
                f"{kind}Type": st.sampled_from(["twb", "twbx", "tds", "tdsx", "hyper", "x"]),
                "asJob": st.sampled_from(["true", "false"]),
            },
        )
    )
    published = _send(
        target,
        "POST",
        f"{target.api}/{kind}s",
        content=body,
        headers={"Content-Type": content_type, "Accept": "application/json"},
        params=params,
    )
    if published.status_code == 201:
        content_id = published.json()[kind]["id"]
        _send(target, "GET", f"{target.api}/{kind}s/{content_id}/content")
        _send(target, "DELETE", f"{target.api}/{kind}s/{content_id}")


@FUZZ
@given(data=st.data())
def test_chunked_uploads(target: Target, data: st.DataObject) -> None:
    """Append fuzzed multipart chunks to an upload session, then publish from it."""
    started = _send(
        target, "POST", f"{target.api}/fileUploads", headers={"Accept": "application/json"}
    )
    assert started.status_code == 201, started.text
    upload = started.json()["fileUpload"]["uploadSessionId"]
    body, content_type = data.draw(fz.multipart_bodies(b"", "tableau_file"))
    _send(
        target,
        "PUT",
        f"{target.api}/fileUploads/{upload}",
        content=body,
        headers={"Content-Type": content_type},
    )
    payload = data.draw(_payload("workbook"))
    wrapper, wrapper_type = data.draw(fz.multipart_bodies(payload, "unused"))
    _send(
        target,
        "POST",
        f"{target.api}/workbooks",
        content=wrapper,
        headers={"Content-Type": wrapper_type},
        params={
            "uploadSessionId": upload,
            "workbookType": data.draw(st.sampled_from(["twb", "twbx"])),
        },
    )


# -- the relay's inbound URL (no session) --------------------------------------------------------


@FUZZ
@given(
    body=fz.json_bodies(
        st.fixed_dictionaries(
            {
                "event_type": fz.json_values | st.just("DatasourceRefreshFailed"),
                "resource_name": fz.json_values,
                "resource_luid": fz.json_values,
                "site_luid": fz.json_values,
                "resource": fz.json_values,
            }
        )
    )
)
def test_relay_inbound(target: Target, body: bytes) -> None:
    """Anyone may post to a relay route's URL: JSON of any shape."""
    _send(
        target,
        "POST",
        f"/relay/{_relay(target)}",
        content=body,
        headers={"Content-Type": "application/json"},
        auth=False,
    )


# -- targets ------------------------------------------------------------------------------------


def _webhook(target: Target) -> str:
    """One webhook to update."""
    if "webhook" not in _known:
        created = target.json(
            "POST",
            f"{target.api}/webhooks",
            {
                "webhook": {
                    "name": "fuzz-target",
                    "event": "DatasourceRefreshFailed",
                    "webhook-destination": {
                        "webhook-destination-http": {
                            "method": "POST",
                            "url": "https://example.invalid/h",
                        }
                    },
                }
            },
        )
        _known["webhook"] = str(created["webhook"]["id"])  # type: ignore[index]
    return _known["webhook"]


def _datasource(target: Target) -> str:
    """One data source to add warnings to (an extract: no connection to parse)."""
    if "datasource" not in _known:
        body = (
            b'--b\r\nContent-Disposition: form-data; name="request_payload"\r\n\r\n'
            b'<tsRequest><datasource name="fuzz-labels"/></tsRequest>\r\n'
            b'--b\r\nContent-Disposition: form-data; name="tableau_datasource"; '
            b'filename="f.hyper"\r\n\r\nnot empty\r\n--b--\r\n'
        )
        published = target.http.post(
            f"{target.api}/datasources",
            content=body,
            headers={
                "X-Tableau-Auth": target.token,
                "Accept": "application/json",
                "Content-Type": "multipart/mixed; boundary=b",
            },
        )
        assert published.status_code == 201, published.text
        _known["datasource"] = str(published.json()["datasource"]["id"])
    return _known["datasource"]


def _relay(target: Target) -> str:
    """One relay route to post to (its target is never reached: no dispatcher runs)."""
    if "relay" not in _known:
        created = target.json(
            "POST",
            "/tabhooks/v1/relays",
            {
                "name": "fuzz",
                "targets": [
                    {
                        "type": "http",
                        "url": "https://example.invalid/r",
                        "template": "{{ event.resource_name }}",
                    }
                ],
            },
        )
        _known["relay"] = str(created["id"])
    return _known["relay"]
