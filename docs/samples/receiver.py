"""A webhook receiver: when a workbook is published, tag it, let a group read it, tell Slack.

Tableau's webhook payload carries only ids, "so that the Tableau REST API can be used to get
additional information or take further action". This receiver is that further action, for
``WorkbookCreated``, in three REST calls made with a personal access token:

1. ``PUT .../workbooks/{id}/tags`` adds the tag ``new`` (``RECEIVER_TAG``);
2. ``PUT .../workbooks/{id}/permissions`` allows the group ``Analysts`` (``RECEIVER_GROUP``)
   ``Read`` on it;
3. the payload is posted to a tabhooks relay route (``RELAY_URL``), whose Slack target turns
   it into a Slack message — only now, so the message never announces a workbook the group
   cannot open yet.

It runs against tabhooks or a real Tableau Server / Cloud site: Python 3.11 or later, the
standard library, and ``standardwebhooks`` (in tabhooks' ``.venv``; ``pip install
standardwebhooks`` elsewhere). See docs/recipes.md for the whole walk-through.

Answers: ``200`` once the workbook is handled (or for another event, which it ignores), ``401``
to a request whose signature does not verify, ``400`` to a body that is not a Tableau payload,
and ``500`` when a REST call failed — the sender then retries later (tabhooks and Tableau
both do), and since every step can be repeated safely a retry finishes the job.

Settings, from the environment:

``TABLEAU_SERVER``
    The server the REST calls go to, e.g. ``http://127.0.0.1:8000``.
``TABLEAU_SITE``
    The site's content URL (``""``, the default, for the default site).
``TABLEAU_PAT_NAME``, ``TABLEAU_PAT_SECRET``
    A personal access token of a user who may change the site's workbooks' permissions (a site
    administrator).
``RELAY_URL``
    The relay route's inbound URL, ``http://.../relay/rly_...``.
``WEBHOOK_SECRET``
    Optional: the webhook's Standard Webhooks signing secret (``whsec_...``). When set, only
    requests it signed are acted on. Tableau itself signs nothing; tabhooks signs when the
    webhook has a secret (docs/delivery.md).
``RECEIVER_GROUP``, ``RECEIVER_TAG``
    The group granted ``Read`` (``Analysts``) and the tag (``new``).

Run ``python receiver.py --help`` for the address it listens on.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.server
import json
import logging
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

API_VERSION = "3.28"
#: How long one REST call may take. The sender waits for our answer (tabhooks 15 s by default),
#: so the three calls together must stay well inside that.
REQUEST_TIMEOUT_S = 4.0
#: Payloads already handled, remembered so that a duplicate (Tableau may send one event more
#: than once, with an identical body) does not post to Slack twice.
REMEMBERED = 1000
#: What the receiver reads of Tableau's payload (it also has resource, created_at).
PAYLOAD_FIELDS = ("site_luid", "resource_luid", "resource_name")

log = logging.getLogger("receiver")


class RestError(Exception):
    """A REST call was refused or could not be made; the message says which and why."""


@dataclass
class Tableau:
    """Just enough of a REST client: sign in with a personal access token, call JSON methods,
    and sign in again once when the session has expired (401)."""

    server: str
    site: str
    pat_name: str
    pat_secret: str
    token: str | None = None
    site_id: str | None = None

    def sign_in(self) -> None:
        answer = self._call(
            "POST",
            f"/api/{API_VERSION}/auth/signin",
            {
                "credentials": {
                    "personalAccessTokenName": self.pat_name,
                    "personalAccessTokenSecret": self.pat_secret,
                    "site": {"contentUrl": self.site},
                }
            },
            signed_in=False,
        )
        self.token = answer["credentials"]["token"]
        self.site_id = answer["credentials"]["site"]["id"]

    def site_call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """A method under ``/api/{version}/sites/{site-id}/``, signing in first if need be."""
        if self.token is None:
            self.sign_in()
        try:
            return self._call(method, self._site_path(path), body)
        except _Expired:
            self.sign_in()
            return self._call(method, self._site_path(path), body)

    def _site_path(self, path: str) -> str:
        return f"/api/{API_VERSION}/sites/{self.site_id}/{path}"

    def _call(
        self, method: str, path: str, body: dict[str, Any] | None, *, signed_in: bool = True
    ) -> Any:
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if signed_in and self.token:
            headers["X-Tableau-Auth"] = self.token
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.server + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
                text = response.read()
        except urllib.error.HTTPError as error:
            if error.code == 401 and signed_in:
                raise _Expired from error
            detail = error.read().decode(errors="replace")[:500]
            raise RestError(f"{method} {path}: HTTP {error.code}: {detail}") from error
        except (urllib.error.URLError, TimeoutError) as error:
            raise RestError(f"{method} {path}: {error}") from error
        return json.loads(text) if text else None


class _Expired(Exception):
    """The session token was refused: sign in again."""


@dataclass
class Receiver:
    """What to do with each payload, and the payloads already handled."""

    tableau: Tableau
    relay_url: str
    group: str = "Analysts"
    tag: str = "new"
    verifier: Webhook | None = None
    handled: OrderedDict[str, None] = field(default_factory=OrderedDict)

    def handle(self, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        """The answer (status, text) to one request."""
        if self.verifier is not None:
            try:
                self.verifier.verify(body, headers)
            except WebhookVerificationError as error:
                return 401, f"signature refused: {error}"
            except ValueError:  # signed, but not JSON: the library parses what it verified
                if body.strip():
                    return 400, "not JSON"
        try:
            payload = json.loads(body) if body.strip() else {}
        except ValueError:
            return 400, "not JSON"
        if not isinstance(payload, dict):
            return 400, "not a Tableau webhook payload"
        event = payload.get("event_type")
        if event != "WorkbookCreated":  # the test request's empty payload is ignored too
            return 200, f"ignored {event or 'an empty payload'}"
        if not all(isinstance(payload.get(k), str) for k in PAYLOAD_FIELDS):
            return 400, f"a WorkbookCreated payload has {', '.join(PAYLOAD_FIELDS)}"
        key = hashlib.sha256(body).hexdigest()
        if key in self.handled:
            return 200, "already handled"
        try:
            self.workbook_created(payload)
        except RestError as error:
            log.error("%s %s: %s", event, payload.get("resource_luid"), error)
            return 500, f"not done, retry later: {error}"
        self.handled[key] = None
        while len(self.handled) > REMEMBERED:
            self.handled.popitem(last=False)
        return 200, "done"

    def workbook_created(self, payload: dict[str, Any]) -> None:
        """Tag the workbook, let the group read it, then announce it through the relay."""
        if self.tableau.site_id is None:
            self.tableau.sign_in()
        if payload["site_luid"] != self.tableau.site_id:
            raise RestError(f"site {payload['site_luid']} is not the site signed in to")
        workbook = urllib.parse.quote(payload["resource_luid"], safe="")
        self.tableau.site_call(
            "PUT", f"workbooks/{workbook}/tags", {"tags": {"tag": [{"label": self.tag}]}}
        )
        group_id = self._group_id()
        self.tableau.site_call(
            "PUT",
            f"workbooks/{workbook}/permissions",
            {
                "permissions": {
                    "granteeCapabilities": [
                        {
                            "group": {"id": group_id},
                            "capabilities": {"capability": [{"name": "Read", "mode": "Allow"}]},
                        }
                    ]
                }
            },
        )
        self._relay(payload)
        log.info(
            "%s: tagged %r, %s may read it, relayed", payload["resource_name"], self.tag, self.group
        )

    def _group_id(self) -> str:
        name = urllib.parse.quote(self.group, safe="")
        answer = self.tableau.site_call("GET", f"groups?filter=name:eq:{name}")
        groups = answer["groups"].get("group", [])
        if not groups:
            raise RestError(f"no group named {self.group!r} on the site")
        return str(groups[0]["id"])

    def _relay(self, payload: dict[str, Any]) -> None:
        request = urllib.request.Request(
            self.relay_url,
            json.dumps(payload).encode(),
            {"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S):
                pass
        except (urllib.error.URLError, TimeoutError) as error:
            raise RestError(f"relay: {error}") from error


def serve(receiver: Receiver, host: str, port: int, url_file: Path | None) -> None:
    """Answer webhook requests on ``host:port`` (port 0: any free one) until interrupted."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, text = receiver.handle(body, dict(self.headers.items()))
            answer = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            log.info("%s %s", self.address_string(), format % args)

    # One request at a time: two deliveries of the same workbook never interleave.
    with http.server.HTTPServer((host, port), Handler) as server:
        url = f"http://{host}:{server.server_address[1]}/tableau"
        log.info("listening on %s", url)
        if url_file is not None:
            url_file.write_text(url + "\n")
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends it quietly
            server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="port (default: any free one)")
    parser.add_argument("--url-file", type=Path, help="write the webhook URL to this file")
    options = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s receiver: %(message)s")
    missing = [
        name
        for name in ("TABLEAU_SERVER", "TABLEAU_PAT_NAME", "TABLEAU_PAT_SECRET", "RELAY_URL")
        if not os.environ.get(name)
    ]
    if missing:
        sys.exit(f"receiver: set {', '.join(missing)} (see the top of this file)")
    secret = os.environ.get("WEBHOOK_SECRET")
    receiver = Receiver(
        Tableau(
            os.environ["TABLEAU_SERVER"].rstrip("/"),
            os.environ.get("TABLEAU_SITE", ""),
            os.environ["TABLEAU_PAT_NAME"],
            os.environ["TABLEAU_PAT_SECRET"],
        ),
        os.environ["RELAY_URL"],
        group=os.environ.get("RECEIVER_GROUP", "Analysts"),
        tag=os.environ.get("RECEIVER_TAG", "new"),
        verifier=Webhook(secret) if secret else None,
    )
    serve(receiver, options.host, options.port, options.url_file)


if __name__ == "__main__":
    main()
