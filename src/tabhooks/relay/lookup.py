"""Enrichment over Tableau's REST API: the project, owner and web URL of the resource an event
names, looked up on the site the event came from.

A Tableau payload carries a LUID and a name, which is not enough to say *where* a failing
extract lives or *whom* to tell. A route may name a source — a stored ``tabhooks login``
profile or a server URL with a personal access token — and :class:`Enricher` signs in there,
fetches the workbook, data source, view or flow, and hands templates what it found. Any
tabhooks server answers the same calls, which is how the tests stand one in for Tableau.

Enrichment is a nicety, so it must never cost a message: every failure (unreachable, 401, 404,
malformed answer, a lookup slower than its budget) comes back as ``{"error": why}`` for the
template to show or ignore, and nothing here raises to the caller. Requests go through the SSRF
guard like deliveries (:func:`~tabhooks.delivery.guard.guarded_session`), because the server
URL of a route is as much user input as a target URL. This is the one client that follows
redirects (a REST API behind a load balancer may answer with one), and it follows them itself,
one checked hop at a time (:func:`~tabhooks.delivery.guard.redirect_target`): never to a
blocked address, never from https to http, and never carrying a session token or a sign-in
body to another origin.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Literal

import aiohttp

from tabhooks.delivery.guard import (
    REDIRECT_STATUSES,
    DestinationPolicy,
    guarded_session,
    parse_destination,
    redirect_target,
)
from tabhooks.delivery.retry import ErrorClass
from tabhooks.delivery.sender import classify_error
from tabhooks.relay.messages import Inbound, Kind, resource_kind

#: The whole lookup — sign-in, resource, owner — must fit in this (``relay_enrich_timeout_s``).
LOOKUP_BUDGET_S = 5.0
#: Time allowed to connect to the REST API; a dead host should fail fast, not eat the budget.
CONNECT_TIMEOUT_S = 2.0
#: Largest REST answer read; a workbook with its views is a few kilobytes.
RESPONSE_MAX_BYTES = 1024 * 1024
#: Version asked first to learn the server's ``restApiVersion`` (TSC does the same).
DISCOVERY_API_VERSION = "2.4"
#: Redirects followed per request; each one is checked before it is followed.
MAX_REDIRECTS = 5
#: Headers that identify the caller; never sent on to another origin by a redirect.
_CREDENTIAL_HEADERS = ("X-Tableau-Auth", "Authorization", "Cookie")
#: Sessions are assumed to last this long when the server does not say (Tableau's default is
#: 240 minutes; a 401 renews earlier anyway).
SESSION_ASSUMED_MIN = 120

#: Element name → collection in REST paths (``GET sites/{site}/workbooks/{luid}``).
_COLLECTION = {
    "workbook": "workbooks",
    "datasource": "datasources",
    "view": "views",
    "flow": "flows",
    "user": "users",
}


class LookupFailed(Exception):
    """The lookup cannot be done; ``str()`` is what ``enrichment.error`` shows."""


@dataclass(frozen=True, slots=True)
class Source:
    """Where and as whom to look resources up; built from a route by the relay service."""

    #: How errors name this source: ``profile 'prod'`` or the server URL.
    label: str
    server: str
    #: The site's content URL (``""`` for the Default site).
    site: str
    auth: Literal["pat", "password"]
    #: The PAT name or the user name.
    who: str
    #: ``None`` when only a cached session exists (a profile whose secret was typed).
    secret: str | None
    #: ``None``: learnt from ``serverinfo`` at sign-in.
    api_version: str | None = None
    #: A profile's cached session, used until it expires or is refused.
    token: str | None = None
    token_site_id: str | None = None
    token_expires_at: datetime | None = None

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        """Which cached session this source may use: the credential is part of it, so a route
        with a wrong secret never rides on another route's session."""
        credential = (self.secret or self.token or "").encode()
        return (self.server, self.site, self.auth, self.who, hashlib.sha256(credential).hexdigest())


@dataclass(slots=True)
class _Session:
    token: str
    site_id: str
    api_version: str
    expires_at: datetime


class Enricher:
    """Signs in to sources and looks resources up, keeping one session per source.

    One per process (built by the app factory, like the delivery sender), so a burst of
    refresh failures signs in once, not once per message.

    Args:
        policy: Which hosts may be reached (the delivery guard's policy).
        budget_s: See :data:`LOOKUP_BUDGET_S`.
    """

    def __init__(self, policy: DestinationPolicy, *, budget_s: float = LOOKUP_BUDGET_S) -> None:
        self.policy = policy
        self.budget_s = budget_s
        self._sessions: dict[tuple[str, str, str, str, str], _Session] = {}
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Enricher:
        self._http = guarded_session(
            self.policy,
            timeout=aiohttp.ClientTimeout(total=self.budget_s, sock_connect=CONNECT_TIMEOUT_S),
            limit=32,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def enrich(self, source: Source, inbound: Inbound) -> dict[str, Any]:
        """What templates get as ``enrichment``; ``{"error": ...}`` instead of raising."""
        kind = resource_kind(inbound)
        if kind is None or not inbound.resource_luid:
            return {}
        try:
            async with asyncio.timeout(self.budget_s):
                found = await self._lookup(source, kind, inbound)
        except LookupFailed as exc:
            return {"error": str(exc), "source": source.label}
        except TimeoutError:
            return {
                "error": f"{source.label} did not answer within {self.budget_s:g} s",
                "source": source.label,
            }
        except (aiohttp.ClientError, OSError, ValueError) as exc:  # OSError: the guard's refusal
            error, reason = classify_error(exc)
            verdict = "was not contacted" if error is ErrorClass.BLOCKED else "is unreachable"
            return {"error": f"{source.label} {verdict}: {reason}", "source": source.label}
        return {**found, "source": source.label}

    # ------------------------------------------------------------------ looking up

    async def _lookup(self, source: Source, kind: Kind, inbound: Inbound) -> dict[str, Any]:
        session = await self._session(source)
        if inbound.site_luid and inbound.site_luid.lower() != session.site_id.lower():
            raise LookupFailed(
                f"the event is from site {inbound.site_luid}, but {source.label} signs in to "
                f"site {session.site_id}"
            )
        item = await self._item(source, kind, inbound.resource_luid)
        if kind == "view":
            return await self._view(source, item)
        return await self._content(source, kind, item)

    async def _content(self, source: Source, kind: Kind, item: dict[str, Any]) -> dict[str, Any]:
        project = _object(item.get("project"))
        owner = _object(item.get("owner"))
        owner_name = str(owner.get("name") or "")
        if not owner_name and owner.get("id"):
            user = await self._item(source, "user", str(owner["id"]))
            owner_name = str(user.get("name") or "")
        return {
            "kind": kind,
            "name": str(item.get("name") or ""),
            "project": str(project.get("name") or ""),
            "project_id": str(project.get("id") or ""),
            "owner": owner_name,
            "owner_id": str(owner.get("id") or ""),
            "web_url": str(item.get("webpageUrl") or ""),
            "content_url": str(item.get("contentUrl") or ""),
            "description": str(item.get("description") or ""),
        }

    async def _view(self, source: Source, view: dict[str, Any]) -> dict[str, Any]:
        """A view's project and owner are its workbook's; its URL is ``#/views/wb/sheet``."""
        workbook_id = str(_object(view.get("workbook")).get("id") or "")
        if not workbook_id:
            raise LookupFailed(f"{source.label} answered a view without its workbook")
        workbook = await self._content(
            source, "workbook", await self._item(source, "workbook", workbook_id)
        )
        path = str(view.get("contentUrl") or "").replace("/sheets/", "/")
        site = f"/site/{source.site}" if source.site else ""
        return {
            **workbook,
            "kind": "view",
            "name": str(view.get("name") or ""),
            "workbook": workbook["name"],
            "web_url": f"{source.server}/#{site}/views/{path}" if path else workbook["web_url"],
            "content_url": str(view.get("contentUrl") or ""),
        }

    async def _item(self, source: Source, element: str, luid: str) -> dict[str, Any]:
        """``GET sites/{site}/{collection}/{luid}``, signing in again once on a 401."""
        collection = _COLLECTION[element]
        for attempt in (1, 2):
            session = await self._session(source)
            url = (
                f"{source.server}/api/{session.api_version}/sites/{session.site_id}"
                f"/{collection}/{luid}"
            )
            status, body = await self._call("GET", url, token=session.token)
            if status == 401 and attempt == 1:
                self._sessions.pop(source.key, None)
                source = replace(source, token=None, token_site_id=None, token_expires_at=None)
                continue
            if status == 404:
                raise LookupFailed(f"{element} {luid} was not found on {source.label} (404)")
            if status >= 300:  # a 3xx here had no Location to follow
                raise LookupFailed(f"{source.label} answered {status} to GET {collection}/{luid}")
            return _object(body.get(element))
        raise LookupFailed(f"{source.label} refused the session (401) after signing in again")

    # ------------------------------------------------------------------ sessions

    async def _session(self, source: Source) -> _Session:
        now = datetime.now(UTC)
        cached = self._sessions.get(source.key)
        if cached is not None and cached.expires_at > now:
            return cached
        expires = source.token_expires_at
        if source.token and source.token_site_id and (expires is None or expires > now):
            version = source.api_version or await self._discover(source)
            until = expires or now + timedelta(minutes=SESSION_ASSUMED_MIN)
            cached = _Session(source.token, source.token_site_id, version, until)
        else:
            cached = await self._sign_in(source)
        self._sessions[source.key] = cached
        return cached

    async def _discover(self, source: Source) -> str:
        url = f"{source.server}/api/{DISCOVERY_API_VERSION}/serverinfo"
        status, body = await self._call("GET", url)
        version = _object(body.get("serverInfo")).get("restApiVersion")
        if isinstance(version, dict):  # some servers wrap text content as {"value": ...}
            version = version.get("value")
        if status >= 400 or not isinstance(version, str) or not version:
            raise LookupFailed(f"{source.label} did not say its REST API version ({status})")
        return version

    async def _sign_in(self, source: Source) -> _Session:
        if not source.secret:
            raise LookupFailed(
                f"{source.label} has no usable session and no secret to sign in with "
                "(set the profile's secret variable in the server's environment)"
            )
        version = source.api_version or await self._discover(source)
        credentials: dict[str, Any] = {"site": {"contentUrl": source.site}}
        if source.auth == "pat":
            credentials["personalAccessTokenName"] = source.who
            credentials["personalAccessTokenSecret"] = source.secret
        else:
            credentials["name"] = source.who
            credentials["password"] = source.secret
        url = f"{source.server}/api/{version}/auth/signin"
        status, body = await self._call("POST", url, payload={"credentials": credentials})
        if status == 401:
            raise LookupFailed(f"sign-in to {source.label} was refused (401)")
        answer = _object(body.get("credentials"))
        token, site_id = answer.get("token"), _object(answer.get("site")).get("id")
        if status >= 400 or not isinstance(token, str) or not isinstance(site_id, str):
            raise LookupFailed(f"sign-in to {source.label} failed ({status})")
        expires = datetime.now(UTC) + timedelta(minutes=SESSION_ASSUMED_MIN)
        return _Session(token, site_id, version, expires)

    async def _call(
        self,
        method: str,
        url: str,
        *,
        token: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """One JSON request; the status and the JSON object answered (``{}`` if none).

        Redirects are followed here, one checked hop at a time, never by aiohttp: each
        ``Location`` is judged by :func:`redirect_target` before anything is sent to it, and
        :class:`~tabhooks.delivery.guard.GuardedConnector` judges the address it connects to.
        A redirect to another origin drops the session token and turns a sign-in into a
        failure rather than sending the credentials on.

        Raises:
            tabhooks.delivery.guard.BlockedDestination: The URL, or a redirect's target, is not
                allowed.
            LookupFailed: Too many redirects, or one that would send credentials elsewhere.
        """
        if self._http is None:
            raise LookupFailed("enrichment is not running in this process")
        target = parse_destination(url, self.policy)
        headers = {"Accept": "application/json"}
        if token:
            headers["X-Tableau-Auth"] = token
        for _ in range(MAX_REDIRECTS + 1):
            async with self._http.request(
                method, target, json=payload, headers=headers, allow_redirects=False
            ) as response:
                status = response.status
                location = response.headers.get("Location")
                if status not in REDIRECT_STATUSES or not location:
                    raw = await response.content.read(RESPONSE_MAX_BYTES)
                    break
            following = redirect_target(target, location, self.policy)
            if following.origin() != target.origin():
                for name in _CREDENTIAL_HEADERS:
                    headers.pop(name, None)
            if status == 303 or (status in (301, 302) and method == "POST"):
                method, payload = "GET", None
            elif payload is not None and following.origin() != target.origin():
                raise LookupFailed(
                    f"{target.origin()} redirected a request carrying credentials to another "
                    f"origin ({following.origin()}); it was not followed"
                )
            target = following
        else:
            raise LookupFailed(f"{url} redirected more than {MAX_REDIRECTS} times")
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {}
        return status, body if isinstance(body, dict) else {}


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
