"""Relay use cases: manage routes, and turn an inbound Tableau payload into queued messages.

A route is checked completely when saved (event names, destinations through the SSRF guard,
every template compiled and checked in a render worker) so that what reaches the queue can
only fail at the receiver or on the event's own data. Templates render in worker processes
within time and memory limits (:mod:`tabhooks.relay.render_pool`); one that fails or hits a
limit fails its own delivery, with the reason in the attempt log. Receiving renders every
target up front and stores the results with the event in one transaction
(:func:`tabhooks.store.relays.enqueue`): from then on relayed messages are ordinary
deliveries — retried, logged attempt by attempt, redeliverable.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tabhooks import events as catalog
from tabhooks import jsontext
from tabhooks.delivery import signing
from tabhooks.delivery.guard import BlockedDestination, DestinationPolicy, check_url
from tabhooks.errors import (
    BadRequest,
    Forbidden,
    InvalidDestination,
    NotAuthenticated,
    ResourceNotFound,
)
from tabhooks.relay import messages, sources, templates
from tabhooks.relay.lookup import Enricher, LookupFailed
from tabhooks.relay.messages import Filters, Inbound
from tabhooks.services.principal import Principal
from tabhooks.services.throttle import RouteLimiter
from tabhooks.store import Store
from tabhooks.store import relays as relays_store
from tabhooks.store import users as users_store
from tabhooks.store.relays import Outgoing
from tabhooks.store.tables import utcnow
from tabhooks.tsxml import timestamp

log = logging.getLogger(__name__)

ROUTE_ID_PREFIX = "rly_"
DEFAULT_SECRET_HEADER = "X-Tabhooks-Relay-Secret"
HTTP_METHODS = ("POST", "PUT", "PATCH", "GET", "DELETE")
#: Headers a target may not set: they describe the transport, not the message.
_RESERVED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
URL_MAX_CHARS = 2048
PROFILE_NAME_MAX_CHARS = 64


@dataclass(frozen=True, slots=True)
class TargetSpec:
    type: str
    url: str
    method: str = "POST"
    headers: Mapping[str, str] = field(default_factory=dict)
    template: str | None = None


@dataclass(frozen=True, slots=True)
class EnrichSource:
    """Where enrichment looks resources up: a profile, a server with a PAT, or (all empty)
    this server's own store."""

    profile: str | None = None
    server: str | None = None
    site: str = ""
    pat_name: str | None = None
    pat_secret: str | None = None


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """A route as asked for; on update, ``None`` keeps the current value."""

    name: str | None = None
    events: Sequence[str] | None = None
    resource_glob: str | None = None
    site_luid: str | None = None
    secret: str | None = None
    secret_header: str | None = None
    enrich: bool | None = None
    targets: Sequence[TargetSpec] | None = None
    #: ``True`` generates a signing secret for the http targets, ``False`` stops signing.
    sign: bool | None = None
    #: A ``whsec_`` secret to sign with (a receiver's own); ``""`` stops signing.
    signing_secret: str | None = None
    #: Where to enrich from; setting it turns ``enrich`` on unless ``enrich`` says otherwise.
    enrich_with: EnrichSource | None = None


@dataclass(frozen=True, slots=True)
class Received:
    """What happened to one inbound payload."""

    queued: int
    filtered: bool
    delivery_ids: tuple[str, ...]
    errors: dict[str, str]


def _check_target(target: TargetSpec, policy: DestinationPolicy) -> dict[str, Any]:
    kind = target.type.lower()
    if kind not in messages.TARGET_TYPES:
        raise BadRequest(f"Target type must be one of {', '.join(messages.TARGET_TYPES)}.")
    if not target.url or len(target.url) > URL_MAX_CHARS:
        raise InvalidDestination(f"A target url is required (at most {URL_MAX_CHARS} characters).")
    try:
        check_url(target.url, policy)
    except BlockedDestination as exc:
        raise InvalidDestination(f"The target URL '{target.url}' is not allowed: {exc}") from exc
    method = (target.method or "POST").upper()
    if method not in HTTP_METHODS or (kind != "http" and method != "POST"):
        raise BadRequest(f"Method '{method}' is not allowed for a {kind} target.")
    for name in target.headers:
        if name.lower() in _RESERVED_HEADERS or not name.strip():
            raise BadRequest(f"Header '{name}' cannot be set on a relay target.")
    return {
        "type": kind,
        "url": target.url,
        "method": method,
        "headers": json.dumps(dict(target.headers)),
        "template": target.template,
    }


async def _check_templates(targets: Sequence[TargetSpec], renderer: templates.Renderer) -> None:
    """Compile every template in a render worker: compiling is running code (a 20,000
    character template took 0.6 s), so it never happens on the event loop."""
    for target in targets:
        if target.template is not None:
            await renderer.check(target.template)


def _route_columns(spec: RouteSpec) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if spec.name is not None:
        name = spec.name.strip()
        if not name or len(name) > 255:
            raise BadRequest("The relay route name must be 1 to 255 characters.")
        out["name"] = name
    if spec.events is not None:
        out["events"] = json.dumps(list(messages.normalise_events(spec.events)))
    if spec.resource_glob is not None:
        out["resource_glob"] = spec.resource_glob.strip()[:255]
    if spec.site_luid is not None:
        out["site_filter"] = spec.site_luid.strip()[:64]
    if spec.secret is not None:
        out["secret_hash"] = _hash(spec.secret) if spec.secret else None
    if spec.secret_header is not None:
        out["secret_header"] = spec.secret_header.strip()[:64] or DEFAULT_SECRET_HEADER
    if spec.enrich is not None:
        out["enrich"] = spec.enrich
    if spec.signing_secret is not None or spec.sign is not None:
        out["signing_secret"] = _signing_secret(spec)
    return out


def _signing_secret(spec: RouteSpec) -> str | None:
    """The secret to store: the given one (checked now, not at the first delivery), a new
    one, or ``None`` to stop signing."""
    if spec.signing_secret:
        try:
            signing.decode_secret(spec.signing_secret)
        except ValueError as exc:
            raise BadRequest(f"The signing secret is not a whsec_ secret: {exc}.") from exc
        return spec.signing_secret
    if spec.signing_secret == "" or spec.sign is False:
        return None
    return signing.generate_secret()


def _enrich_columns(
    spec: RouteSpec, policy: DestinationPolicy, principal: Principal
) -> dict[str, Any]:
    """Check the enrichment source when saved: a missing profile or a blocked server is the
    author's mistake to see now, not a silent ``enrichment.error`` on every message.

    A profile signs in as whoever ran ``tabhooks login`` on the server — usually the
    operator, on any site — so only a server administrator may choose one; a site admin
    enriching with it would read other sites' content through the operator's login.
    """
    source = spec.enrich_with
    if source is None:
        return {}
    if source.profile:
        _require_profile_user(principal, source.profile)
    out: dict[str, Any] = {
        "enrich_profile": None,
        "enrich_server": None,
        "enrich_site": None,
        "enrich_pat_name": None,
        "enrich_pat_secret": None,
    }
    if spec.enrich is None:
        out["enrich"] = True
    if source.profile and source.server:
        raise BadRequest("Enrich with a profile or with a server and PAT, not both.")
    if source.profile:
        if len(source.profile) > PROFILE_NAME_MAX_CHARS:
            raise BadRequest(f"A profile name is at most {PROFILE_NAME_MAX_CHARS} characters.")
        try:
            sources.profile_source(source.profile)
        except LookupFailed as exc:
            raise BadRequest(f"Cannot enrich with {exc}.") from exc
        out["enrich_profile"] = source.profile
    elif source.server:
        _check_enrich_server(source, policy)
        out.update(
            enrich_server=source.server.rstrip("/"),
            enrich_site=source.site.strip(),
            enrich_pat_name=source.pat_name,
            enrich_pat_secret=source.pat_secret,
        )
    return out


def _require_profile_user(principal: Principal, profile: str) -> None:
    """Refuse a caller who may not use the server's saved profiles (before saying anything
    about whether ``profile`` exists)."""
    if not principal.user.is_server_admin:
        raise Forbidden(
            f"Only a server administrator may enrich with a server profile ('{profile}'): "
            "profiles sign in as the operator. Enrich with a server URL and a personal access "
            "token instead."
        )


def _check_enrich_server(source: EnrichSource, policy: DestinationPolicy) -> None:
    server = source.server or ""
    if len(server) > URL_MAX_CHARS:
        raise InvalidDestination(f"The enrichment server URL is over {URL_MAX_CHARS} characters.")
    try:
        check_url(server, policy)
    except BlockedDestination as exc:
        raise InvalidDestination(f"The enrichment server '{server}' is not allowed: {exc}") from exc
    if not source.pat_name or not source.pat_secret:
        raise BadRequest("Enriching from a server needs pat_name and pat_secret.")


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def create(
    store: Store,
    principal: Principal,
    spec: RouteSpec,
    policy: DestinationPolicy,
    *,
    renderer: templates.Renderer,
) -> dict[str, Any]:
    principal.require_site_admin()
    if not spec.name:
        raise BadRequest("A relay route needs a name.")
    if not spec.targets:
        raise BadRequest("A relay route needs at least one target.")
    targets = [_check_target(t, policy) for t in spec.targets]
    await _check_templates(spec.targets, renderer)
    now = utcnow()
    route = {
        "id": ROUTE_ID_PREFIX + secrets.token_urlsafe(16),
        "site_id": principal.site.id,
        "events": "[]",
        "resource_glob": "",
        "site_filter": "",
        "secret_hash": None,
        "secret_header": DEFAULT_SECRET_HEADER,
        "enrich": False,
        "signing_secret": None,
        "created_by": principal.user.id,
        "created_at": now,
        "updated_at": now,
        **_route_columns(spec),
        **_enrich_columns(spec, policy, principal),
    }
    async with store.write() as conn:
        await relays_store.insert_route(conn, route, targets)
    return await get(store, principal, route["id"])


async def listing(store: Store, principal: Principal) -> list[dict[str, Any]]:
    principal.require_site_admin()
    async with store.read() as conn:
        return await relays_store.list_routes(conn, principal.site.id)


async def get(store: Store, principal: Principal, route_id: str) -> dict[str, Any]:
    principal.require_site_admin()
    async with store.read() as conn:
        route = await relays_store.get_route(conn, route_id)
    if route is None or route["site_id"] != principal.site.id:
        raise ResourceNotFound(f"No relay route with id '{route_id}' exists on this site.")
    return route


async def update(
    store: Store,
    principal: Principal,
    route_id: str,
    spec: RouteSpec,
    policy: DestinationPolicy,
    *,
    renderer: templates.Renderer,
) -> dict[str, Any]:
    current = await get(store, principal, route_id)
    if current["enrich_profile"] and (spec.enrich_with is None or spec.enrich_with.profile):
        # Changing a route that keeps the operator's profile is choosing it again: a new
        # target or template would otherwise expose what the profile can read.
        _require_profile_user(principal, str(current["enrich_profile"]))
    if spec.targets is not None and not spec.targets:
        raise BadRequest("A relay route needs at least one target.")
    targets = [_check_target(t, policy) for t in spec.targets] if spec.targets else None
    await _check_templates(spec.targets or (), renderer)
    changes = {
        **_route_columns(spec),
        **_enrich_columns(spec, policy, principal),
        "updated_at": utcnow(),
    }
    async with store.write() as conn:
        await relays_store.replace_route(conn, route_id, changes, targets)
    return await get(store, principal, route_id)


async def delete(store: Store, principal: Principal, route_id: str) -> None:
    principal.require_site_admin()
    async with store.write() as conn:
        if not await relays_store.remove_route(conn, principal.site.id, route_id):
            raise ResourceNotFound(f"No relay route with id '{route_id}' exists on this site.")


async def receive(
    store: Store,
    route_id: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    base_url: str | None,
    renderer: templates.Renderer,
    enricher: Enricher | None = None,
    limiter: RouteLimiter | None = None,
) -> Received:
    """Relay one payload that arrived at ``/relay/{route_id}`` (no Tableau session needed).

    ``limiter`` counts every request to an existing route, before its secret is checked, so
    neither a flood nor secret guessing costs more than the route's rate.
    """
    async with store.read() as conn:
        route = await relays_store.get_route(conn, route_id)
    if route is None:
        raise ResourceNotFound(f"No relay route with id '{route_id}'.")
    if limiter is not None:
        limiter.admit(route_id)
    if route["secret_hash"]:
        given = headers.get(route["secret_header"].lower(), "")
        if not hmac.compare_digest(_hash(given), route["secret_hash"]):
            raise NotAuthenticated(f"The {route['secret_header']} header is missing or wrong.")
    try:
        # jsontext, not json: a lone surrogate, 100,000 brackets or a 5,000-digit number is
        # a 400 (BadRequest passes through), never a 500 later on.
        data = jsontext.loads(body, what="The relayed payload")
        if not isinstance(data, dict):
            raise ValueError("the body is not a JSON object")
        inbound = Inbound.from_json(data)
    except ValueError as exc:
        raise BadRequest(f"Not a Tableau webhook payload: {exc}.") from exc
    filters = Filters(
        tuple(json.loads(route["events"])), route["resource_glob"], route["site_filter"]
    )
    if not filters.matches(inbound):
        return Received(0, True, (), {})
    return await _relay(
        store, route, inbound, base_url=base_url, renderer=renderer, enricher=enricher
    )


async def test(
    store: Store,
    principal: Principal,
    route_id: str,
    event_name: str,
    *,
    base_url: str | None,
    renderer: templates.Renderer,
    enricher: Enricher | None = None,
) -> Received:
    """Send a sample ``event_name`` through every target of the route, filters aside."""
    route = await get(store, principal, route_id)
    event = catalog.lookup(event_name or "DatasourceRefreshFailed")
    inbound = Inbound(
        resource=str(event.resource),
        event_type=event.name,
        resource_name="Sample: Superstore",
        site_luid=principal.site.id,
        resource_luid=str(uuid.uuid4()),
        created_at=timestamp(utcnow()) or "",
    )
    return await _relay(
        store, route, inbound, base_url=base_url, renderer=renderer, enricher=enricher
    )


async def _relay(
    store: Store,
    route: dict[str, Any],
    inbound: Inbound,
    *,
    base_url: str | None,
    renderer: templates.Renderer,
    enricher: Enricher | None,
) -> Received:
    local_site = inbound.site_luid.lower() == route["site_id"].lower()
    remote = bool(route["enrich_profile"] or route["enrich_server"])
    enrichment: dict[str, Any] = {}
    profile_allowed = True
    async with store.read() as conn:
        content_url = await relays_store.site_content_url(conn, route["site_id"])
        if route["enrich"] and not remote and local_site and inbound.resource_luid:
            enrichment = await _enrich(conn, route["site_id"], inbound.resource_luid)
        if route["enrich"] and route["enrich_profile"]:
            profile_allowed = await _set_up_by_server_admin(conn, route)
    if route["enrich"] and remote:
        enrichment = await _enrich_remote(route, inbound, enricher, profile_allowed)
    link = messages.resource_link(base_url, content_url if local_site else None, inbound)
    if enrichment and link:
        enrichment["web_url"] = link
    # An event from another site links to the page the lookup found there.
    link = link or str(enrichment.get("web_url") or "")
    ctx = messages.context(inbound, link, enrichment)
    outgoing = [await _render(target, ctx, renderer) for target in route["targets"]]
    async with store.write() as conn:
        queued = await relays_store.enqueue(
            conn,
            site_id=route["site_id"],
            event_name=inbound.event_name,
            resource=inbound.resource,
            resource_name=inbound.resource_name,
            resource_luid=inbound.resource_luid,
            payload=json.dumps(inbound.as_payload()),
            outgoing=outgoing,
        )
    errors = {q.delivery_id: q.error for q in queued if q.error}
    return Received(len(queued) - len(errors), False, tuple(q.delivery_id for q in queued), errors)


async def _enrich(conn: Any, site_id: str, luid: str) -> dict[str, Any]:
    """Look the resource up; a failure is logged and yields nothing, never blocks the message."""
    try:
        found = await relays_store.lookup_content(conn, site_id, luid)
    except Exception:
        log.warning("action=relay_enrich_failed resource=%s", luid, exc_info=True)
        return {}
    return dict(found) if found else {}


async def _set_up_by_server_admin(conn: Any, route: dict[str, Any]) -> bool:
    """Whether the route's author is a server administrator now.

    Only server administrators can save a route with a profile or change one that has it, so
    this refuses only routes saved before that rule, and routes whose author has since lost
    the role: the profile must not outlive the trust that chose it.
    """
    author = await users_store.identity(conn, str(route["created_by"] or ""))
    return bool(author and author["is_server_admin"])


async def _enrich_remote(
    route: dict[str, Any],
    inbound: Inbound,
    enricher: Enricher | None,
    profile_allowed: bool = True,
) -> dict[str, Any]:
    """Look the resource up over REST; failures come back as ``{"error": ...}``, logged."""
    try:
        if route["enrich_profile"] and not profile_allowed:
            raise LookupFailed(
                f"profile '{route['enrich_profile']}' is not used: only a route set up by a "
                "server administrator may enrich with a server profile"
            )
        source = sources.for_route(route)
    except LookupFailed as exc:
        found: dict[str, Any] = {"error": str(exc)}
    else:
        if source is None or enricher is None:
            found = {"error": "enrichment is not running in this process"}
        else:
            found = await enricher.enrich(source, inbound)
    if "error" in found:
        log.warning(
            "action=relay_enrich_failed route=%s resource=%s error=%s",
            route["id"],
            inbound.resource_luid,
            found["error"],
        )
    return found


async def _render(
    target: dict[str, Any], ctx: Mapping[str, Any], renderer: templates.Renderer
) -> Outgoing:
    """One target's body; a template that fails (or hits a limit) fails only this delivery."""
    try:
        template = target["template"]
        rendered = await renderer.render(template, ctx) if template else None
        return Outgoing(target["id"], messages.body(target["type"], ctx, rendered), None)
    except templates.RenderFailed as exc:
        return Outgoing(target["id"], None, str(exc))


@dataclass(frozen=True, slots=True)
class Preview:
    """What one target would send for a sample event: its body, or why it cannot."""

    body: str | None
    error: str | None
    link: str


async def preview(
    store: Store,
    principal: Principal,
    target_type: str,
    template: str | None,
    event_name: str,
    *,
    base_url: str | None,
    renderer: templates.Renderer,
) -> Preview:
    """Render ``template`` for a sample ``event_name`` as a ``target_type`` target would send
    it, in the render workers like every relayed message; nothing is saved or sent.

    The sample is the event :func:`test` sends (resource "Sample: Superstore" on the caller's
    site), so what the editor shows is what a route test delivers.
    """
    principal.require_site_admin()
    kind = target_type.lower()
    if kind not in messages.TARGET_TYPES:
        raise BadRequest(f"Target type must be one of {', '.join(messages.TARGET_TYPES)}.")
    event = catalog.lookup(event_name or "DatasourceRefreshFailed")
    inbound = Inbound(
        resource=str(event.resource),
        event_type=event.name,
        resource_name="Sample: Superstore",
        site_luid=principal.site.id,
        resource_luid=str(uuid.uuid4()),
        created_at=timestamp(utcnow()) or "",
    )
    link = messages.resource_link(base_url, principal.site.content_url, inbound)
    ctx = messages.context(inbound, link, {})
    try:
        if template:
            await renderer.check(template)
        rendered = await renderer.render(template, ctx) if template else None
    except (templates.InvalidTemplate, templates.RenderFailed) as exc:
        detail = exc.detail if isinstance(exc, templates.InvalidTemplate) else str(exc)
        return Preview(None, detail, link)
    return Preview(messages.body(kind, ctx, rendered), None, link)
