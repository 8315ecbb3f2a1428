"""Raw Tableau REST calls against a test server, and webhooks that record what they fire.

Acceptance tests drive TSC where a client exists and this helper where the test needs the
exact bytes (multipart subtypes, JSON payloads, malformed bodies). :class:`Watch` proves an
action fired exactly the events expected: deliveries are queued in the action's own
transaction, so their number is final as soon as the call returns, and only their arrival at
the receiver has to be waited for.
"""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.support.receiver import Receiver
from tests.support.server import ADMIN_PASSWORD, ADMIN_USERNAME, ServerProcess

NS = {"t": "http://tableau.com/api"}
API_VERSION = "3.28"


def error_code(response: httpx.Response) -> str | None:
    """The Tableau error code of an XML or JSON error body."""
    if response.headers.get("content-type", "").startswith("application/json"):
        return str(response.json()["error"]["code"])
    node = ET.fromstring(response.content).find("t:error", NS)
    return node.get("code") if node is not None else None


def multipart(
    parts: list[tuple[str, str | None, str, bytes]], subtype: str = "mixed"
) -> tuple[bytes, str]:
    """A multipart body of ``(name, filename, content type, data)`` parts, and its type."""
    boundary = uuid.uuid4().hex
    chunks: list[bytes] = []
    for name, filename, content_type, data in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        chunks.append(
            f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
            f"Content-Type: {content_type}\r\n\r\n".encode()
            + data
            + b"\r\n"
        )
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/{subtype}; boundary={boundary}"


@dataclass
class Rest:
    """A signed-in user of a running server (the bootstrap admin unless told otherwise)."""

    server: ServerProcess
    token: str = ""
    site_id: str = ""
    user_id: str = ""
    #: One connection pool per user: a fresh client per call costs ~0.1 s of TLS set-up.
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))

    @classmethod
    def sign_in(
        cls,
        server: ServerProcess,
        name: str = ADMIN_USERNAME,
        password: str = ADMIN_PASSWORD,
        site: str = "",
    ) -> Rest:
        body = (
            f'<tsRequest><credentials name="{name}" password="{password}">'
            f'<site contentUrl="{site}"/></credentials></tsRequest>'
        )
        response = httpx.post(f"{server.api(API_VERSION)}/auth/signin", content=body)
        assert response.status_code == 200, response.text
        credentials = ET.fromstring(response.content).find("t:credentials", NS)
        assert credentials is not None
        return cls(
            server,
            credentials.get("token", ""),
            credentials.find("t:site", NS).get("id", ""),  # type: ignore[union-attr]
            credentials.find("t:user", NS).get("id", ""),  # type: ignore[union-attr]
        )

    def close(self) -> None:
        self.http.close()

    @property
    def site_url(self) -> str:
        return f"{self.server.api(API_VERSION)}/sites/{self.site_id}"

    @property
    def ops_url(self) -> str:
        return f"{self.server.base_url}/tabhooks/v1/sites/{self.site_id}"

    def call(
        self,
        method: str,
        path: str,
        body: str | bytes | None = None,
        *,
        json_out: bool = False,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        """``method`` on ``{site_url}/{path}``; JSON answers when ``json_out``."""
        sent = {"X-Tableau-Auth": self.token, **(headers or {})}
        if json_out:
            sent["Accept"] = "application/json"
        return self.http.request(
            method, f"{self.site_url}/{path}", content=body, headers=sent, params=params
        )

    def total(self, path: str, **params: str) -> int:
        """``totalAvailable`` of a paginated listing."""
        response = self.call("GET", path, json_out=True, params=params)
        assert response.status_code == 200, response.text
        return int(response.json()["pagination"]["totalAvailable"])

    def publish(
        self,
        collection: str,
        payload: str | bytes,
        file: tuple[str, str, bytes] | None,
        *,
        params: dict[str, str] | None = None,
        subtype: str = "mixed",
        payload_type: str = "text/xml",
        json_out: bool = True,
    ) -> httpx.Response:
        """POST a multipart publish to ``workbooks``/``datasources``.

        Args:
            file: ``(part name, filename, bytes)``, or ``None`` for no file part.
        """
        raw = payload.encode() if isinstance(payload, str) else payload
        parts: list[tuple[str, str | None, str, bytes]] = [
            ("request_payload", "", payload_type, raw)
        ]
        if file is not None:
            parts.append((file[0], file[1], "application/octet-stream", file[2]))
        body, content_type = multipart(parts, subtype)
        return self.call(
            "POST",
            collection,
            body,
            json_out=json_out,
            headers={"Content-Type": content_type},
            params=params,
        )

    def add_user(self, name: str, role: str, password: str) -> str:
        added = self.call(
            "POST", "users", f'<tsRequest><user name="{name}" siteRole="{role}"/></tsRequest>'
        )
        assert added.status_code == 201, added.text
        user_id = ET.fromstring(added.content).find("t:user", NS).get("id")  # type: ignore[union-attr]
        changed = self.call(
            "PUT", f"users/{user_id}", f'<tsRequest><user password="{password}"/></tsRequest>'
        )
        assert changed.status_code == 200, changed.text
        return str(user_id)

    def create_group(self, *members: str) -> str:
        """A new group (named uniquely) holding the users ``members``; its id."""
        name = f"g-{uuid.uuid4().hex[:8]}"
        made = self.call(
            "POST", "groups", f'<tsRequest><group name="{name}"/></tsRequest>', json_out=True
        )
        assert made.status_code == 201, made.text
        group_id = str(made.json()["group"]["id"])
        for member in members:
            added = self.call(
                "POST", f"groups/{group_id}/users", f'<tsRequest><user id="{member}"/></tsRequest>'
            )
            assert added.status_code == 200, added.text
        return group_id

    def create_webhook(self, name: str, event: str, url: str) -> str:
        body = (
            f'<tsRequest><webhook name="{name}" event="{event}"><webhook-destination>'
            f'<webhook-destination-http method="POST" url="{url}"/></webhook-destination>'
            "</webhook></tsRequest>"
        )
        response = self.call("POST", "webhooks", body, json_out=True)
        assert response.status_code == 201, response.text
        return str(response.json()["webhook"]["id"])

    def delete_webhook(self, webhook_id: str) -> None:
        assert self.call("DELETE", f"webhooks/{webhook_id}").status_code == 204

    def deliveries(self, webhook_id: str) -> list[dict[str, Any]]:
        response = self.http.get(
            f"{self.ops_url}/deliveries",
            params={"webhook_id": webhook_id, "limit": "500"},
            headers={"X-Tableau-Auth": self.token},
        )
        assert response.status_code == 200, response.text
        return list(response.json()["deliveries"])


class Watch:
    """Webhooks for ``events`` posting to one fresh receiver; remove them with :meth:`close`."""

    def __init__(self, rest: Rest, events: tuple[str, ...]) -> None:
        self.rest = rest
        self.receiver = Receiver().start()
        self.webhooks = [
            rest.create_webhook(f"watch-{event}-{uuid.uuid4().hex[:8]}", event, self.receiver.url)
            for event in events
        ]
        self.seen = 0

    def queued(self) -> int:
        return sum(len(self.rest.deliveries(webhook_id)) for webhook_id in self.webhooks)

    def take(self, expected: int) -> list[dict[str, Any]]:
        """The payloads of the ``expected`` deliveries the last action queued — no more."""
        assert self.queued() == self.seen + expected, "unexpected number of deliveries queued"
        arrived = self.receiver.wait_for(self.seen + expected)[self.seen :]
        self.seen += expected
        return [json.loads(request.body) for request in arrived]

    def expect(self, *events: tuple[str, str, str, str]) -> list[dict[str, Any]]:
        """Assert the last action fired exactly ``(event_type, resource, luid, name)`` events
        (in any order: deliveries run concurrently), all for the watched site."""
        payloads = self.take(len(events))
        got = Counter(
            (p["event_type"], p["resource"], p["resource_luid"], p["resource_name"])
            for p in payloads
        )
        assert got == Counter(events)
        assert {p["site_luid"] for p in payloads} <= {self.rest.site_id}
        return payloads

    def close(self) -> None:
        for webhook_id in self.webhooks:
            self.rest.delete_webhook(webhook_id)
        self.receiver.stop()
