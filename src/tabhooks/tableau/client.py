"""A small Tableau REST client: sign-in, XML calls, and tabhooks' JSON extensions.

Everything Tableau has is called the way Tableau documents it — XML in the
``http://tableau.com/api`` namespace under ``/api/{version}/`` — so the same commands work
against Tableau Cloud, Tableau Server and tabhooks. Only what Tableau lacks (the delivery log,
bins, on-demand events) goes to ``/tabhooks/v1`` in JSON, and only on a tabhooks server.

Every error answer becomes a :class:`TableauApiError` carrying Tableau's code, summary and
detail, whichever dialect the server answered in. A token that the server rejects as expired
(``401002``) is renewed once through the ``reauth`` callback, when one was given.
"""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import defusedxml.ElementTree as safe_et
import httpx

from tabhooks import __version__

API_NS = "http://tableau.com/api"
NS = {"t": API_NS}
#: The oldest REST API version that has the webhook methods (Update needs 3.8).
WEBHOOKS_MIN_VERSION = "3.6"
#: What serverInfo is asked at: every Tableau since 2019 and tabhooks answer it (TSC does this).
DISCOVERY_VERSION = "2.4"
CONNECT_TIMEOUT_S = 10.0
REQUEST_TIMEOUT_S = 60.0
#: Tableau does not say when a token expires; Tableau Cloud's shortest default is two hours.
TOKEN_LIFETIME = timedelta(minutes=120)


class TableauApiError(Exception):
    """An error answer from the server, in Tableau's terms (``code``, ``summary``, ``detail``)."""

    def __init__(self, status: int, code: str, summary: str, detail: str) -> None:
        super().__init__(f"{code} {summary}: {detail}")
        self.status = status
        self.code = code
        self.summary = summary
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a sign-in answers: the token, the site's id and the user's id."""

    token: str
    site_id: str
    user_id: str
    expires_at: datetime


def version_tuple(version: str) -> tuple[int, int]:
    major, _, minor = version.partition(".")
    return int(major), int(minor or 0)


def _text(node: ET.Element | None) -> str:
    return (node.text or "").strip() if node is not None else ""


def parse_error(response: httpx.Response) -> TableauApiError:
    """Tableau's error envelope (XML or JSON), or a stand-in for anything else."""
    status = response.status_code
    try:
        if "json" in response.headers.get("content-type", ""):
            error = response.json()["error"]
            return TableauApiError(
                status,
                str(error.get("code", status)),
                str(error.get("summary", "")),
                str(error.get("detail", "")),
            )
        node = safe_et.fromstring(response.content).find("t:error", NS)
        if node is not None:
            return TableauApiError(
                status,
                node.get("code", str(status)),
                _text(node.find("t:summary", NS)),
                _text(node.find("t:detail", NS)),
            )
    except (ValueError, KeyError, TypeError, ET.ParseError):
        pass
    detail = response.text.strip()[:300] or "(empty body)"
    if 300 <= status < 400:
        detail = f"redirected to {response.headers.get('location', '?')}"
    return TableauApiError(status, str(status), response.reason_phrase or "HTTP error", detail)


def tsrequest(child: ET.Element) -> bytes:
    """``<tsRequest>`` around ``child``, as bytes (attribute values escaped by ElementTree)."""
    root = ET.Element("tsRequest")
    root.append(child)
    return bytes(ET.tostring(root, encoding="utf-8"))


def multipart(payload: bytes, part: str, filename: str, data: bytes) -> tuple[bytes, str]:
    """Tableau's publish body: ``multipart/mixed`` with ``request_payload`` and one file part."""
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: name="request_payload"\r\n'
            "Content-Type: text/xml\r\n\r\n"
        ).encode()
        + payload
        + (
            f'\r\n--{boundary}\r\nContent-Disposition: name="{part}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/mixed; boundary={boundary}"


class TableauClient:
    """One server: ``rest()`` for Tableau's XML API on the signed-in site, ``ext()`` for
    tabhooks' JSON extensions.

    Args:
        server: The server's base URL, e.g. ``https://10ax.online.tableau.com``.
        api_version: The REST API version to speak (from serverInfo at login).
        credentials: The signed-in session, if any.
        reauth: Called when the server says the token expired; returns fresh credentials.
    """

    def __init__(
        self,
        server: str,
        api_version: str,
        credentials: Credentials | None = None,
        reauth: Callable[[], Credentials] | None = None,
    ) -> None:
        self.server = server.rstrip("/")
        self.api_version = api_version
        self.credentials = credentials
        self.reauth = reauth
        self.http = httpx.Client(
            base_url=self.server,
            timeout=httpx.Timeout(REQUEST_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
            headers={"User-Agent": f"tabhooks-cli/{__version__}"},
            follow_redirects=False,
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> TableauClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def site_id(self) -> str:
        assert self.credentials is not None, "not signed in"
        return self.credentials.site_id

    # -- discovery and sign-in ------------------------------------------------------------

    def server_version(self) -> str:
        """The newest REST API version the server speaks (``restApiVersion``)."""
        response = self.http.get(f"/api/{DISCOVERY_VERSION}/serverInfo")
        if response.status_code != 200:
            raise parse_error(response)
        found = safe_et.fromstring(response.content).find(".//t:restApiVersion", NS)
        if found is None or not _text(found):
            raise TableauApiError(200, "200", "Unexpected answer", "serverInfo has no version")
        return _text(found)

    def is_tabhooks(self) -> bool:
        """Whether the server offers tabhooks' extensions (delivery log, bins, events)."""
        try:
            response = self.http.get("/tabhooks/v1/health")
            return response.status_code == 200 and response.json().get("status") == "ok"
        except (httpx.HTTPError, ValueError, AttributeError):
            return False

    def sign_in(
        self,
        site: str,
        *,
        username: str | None = None,
        password: str | None = None,
        pat_name: str | None = None,
        pat_secret: str | None = None,
    ) -> Credentials:
        """Sign in with a password or a personal access token; keeps and returns the session."""
        node = ET.Element("credentials")
        if pat_name is not None:
            node.set("personalAccessTokenName", pat_name)
            node.set("personalAccessTokenSecret", pat_secret or "")
        else:
            node.set("name", username or "")
            node.set("password", password or "")
        ET.SubElement(node, "site", contentUrl=site)
        response = self.http.post(
            f"/api/{self.api_version}/auth/signin",
            content=tsrequest(node),
            headers={"Content-Type": "application/xml"},
        )
        if response.status_code != 200:
            raise parse_error(response)
        found = safe_et.fromstring(response.content).find("t:credentials", NS)
        site_node = found.find("t:site", NS) if found is not None else None
        user_node = found.find("t:user", NS) if found is not None else None
        if found is None or site_node is None or user_node is None:
            raise TableauApiError(200, "200", "Unexpected answer", "sign-in has no credentials")
        self.credentials = Credentials(
            token=found.get("token", ""),
            site_id=site_node.get("id", ""),
            user_id=user_node.get("id", ""),
            expires_at=datetime.now(UTC) + TOKEN_LIFETIME,
        )
        return self.credentials

    def sign_out(self) -> None:
        if self.credentials is None:
            return
        response = self.http.post(
            f"/api/{self.api_version}/auth/signout",
            headers={"X-Tableau-Auth": self.credentials.token},
        )
        if response.status_code not in (200, 204, 401):
            raise parse_error(response)

    # -- calls ------------------------------------------------------------------------------

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One call with the session's token; an expired token is renewed once."""
        headers = dict(kwargs.pop("headers", None) or {})
        for renewed in (False, True):
            if self.credentials is not None:
                headers["X-Tableau-Auth"] = self.credentials.token
            response = self.http.request(method, url, headers=headers, **kwargs)
            if response.status_code < 300:
                return response
            error = parse_error(response)
            if error.code == "401002" and self.reauth is not None and not renewed:
                self.credentials = self.reauth()
                continue
            raise error
        raise AssertionError("unreachable")

    def site_path(self, path: str) -> str:
        """``path`` under the signed-in site (``/webhooks``), or ``/api/{v}`` (``~/sites``)."""
        if path.startswith("~"):
            return f"/api/{self.api_version}{path[1:]}"
        return f"/api/{self.api_version}/sites/{self.site_id}{path}"

    def rest(
        self,
        method: str,
        path: str,
        body: ET.Element | bytes | None = None,
        *,
        params: dict[str, str] | None = None,
        content_type: str = "application/xml",
    ) -> ET.Element | None:
        """A Tableau REST call on the signed-in site; the answer's root, or ``None`` if empty."""
        content = tsrequest(body) if isinstance(body, ET.Element) else body
        response = self._send(
            method,
            self.site_path(path),
            content=content,
            params=params,
            headers={"Content-Type": content_type} if content is not None else None,
        )
        return safe_et.fromstring(response.content) if response.content else None

    def ext(
        self,
        method: str,
        path: str,
        payload: dict[str, Any] | None = None,
        *,
        params: dict[str, str] | None = None,
    ) -> Any:
        """A tabhooks extension call (``/tabhooks/v1{path}``); the decoded JSON, or ``None``."""
        response = self._send(
            method,
            f"/tabhooks/v1{path}",
            content=json.dumps(payload).encode() if payload is not None else None,
            params=params,
            headers={"Accept": "application/json", "Content-Type": "application/json"},
        )
        return response.json() if response.content else None


def find(root: ET.Element | None, path: str) -> ET.Element:
    """The element at ``path`` (``t:`` prefixed) in an answer, or a clear error."""
    found = root.find(path, NS) if root is not None else None
    if found is None:
        raise TableauApiError(200, "200", "Unexpected answer", f"the answer has no {path}")
    return found


def attr(node: ET.Element | None, name: str) -> str | None:
    """An attribute of an optional element (``<schedule>`` of a task, ``<owner>``), or ``None``
    when the element or the attribute is missing: answers differ in what they include."""
    return node.get(name) if node is not None else None
