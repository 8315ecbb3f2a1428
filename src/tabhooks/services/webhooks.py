"""Webhook use cases: create, list, get, update, delete and test, with Tableau's rules.

Rules beyond the schema, and why:
- Names are unique per site (409160): Tableau's UI and every client identify webhooks by name.
- The event may be named by ``event`` or by the legacy ``<webhook-source>`` child, in either
  spelling; when both are given they must name the same event (Tableau's documented rule).
- Destinations must be absolute https URLs to public addresses unless the server allows http
  or internal destinations (``--dev``, ``TABHOOKS_ALLOW_*``); the delivery engine re-checks
  every resolved address at connect time.
- ``isEnabled=true`` with a non-empty ``statusChangeReason`` is 400127; disabling without a
  reason records "Webhook disabled by user".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tabhooks import events
from tabhooks.delivery.guard import BlockedDestination, DestinationPolicy, check_url
from tabhooks.errors import (
    BadRequest,
    EnabledWithReason,
    InvalidDestination,
    WebhookNotFound,
    WebhookTestNotFound,
)
from tabhooks.models import Webhook, WebhookOut
from tabhooks.services.principal import Principal
from tabhooks.store import Store
from tabhooks.store import webhooks as webhooks_store

DISABLED_BY_USER = "Webhook disabled by user"
NAME_MAX_CHARS = 255
URL_MAX_CHARS = 2048


@dataclass(frozen=True, slots=True)
class WebhookSpec:
    """What a Create or Update request said; ``None`` means "not given"."""

    name: str | None = None
    event: str | None = None
    source_event: str | None = None
    url: str | None = None
    method: str | None = None
    is_enabled: bool | None = None
    status_change_reason: str | None = None


def resolve_event(spec: WebhookSpec) -> events.Event | None:
    """The event named by ``event`` and/or ``<webhook-source>``; both must agree."""
    by_attr = events.lookup(spec.event) if spec.event else None
    by_source = events.lookup(spec.source_event) if spec.source_event else None
    if by_attr and by_source and by_attr is not by_source:
        raise BadRequest(
            f"event '{spec.event}' and webhook-source '{spec.source_event}' name different "
            "events; give one, or make them agree."
        )
    return by_attr or by_source


def _check_name(name: str | None) -> str:
    if name is None or not name.strip():
        raise BadRequest("The webhook name is required.")
    if len(name) > NAME_MAX_CHARS:
        raise BadRequest(f"The webhook name must be at most {NAME_MAX_CHARS} characters.")
    return name


def _check_destination(spec: WebhookSpec, policy: DestinationPolicy) -> str:
    if spec.method is not None and spec.method.upper() != "POST":
        raise BadRequest(f"The webhook destination method must be POST, not '{spec.method}'.")
    if not spec.url:
        raise BadRequest("The webhook destination url is required.")
    if len(spec.url) > URL_MAX_CHARS:
        raise InvalidDestination(f"The destination URL must be at most {URL_MAX_CHARS} characters.")
    try:
        check_url(spec.url, policy)
    except BlockedDestination as exc:
        raise InvalidDestination(f"The destination URL '{spec.url}' is not allowed: {exc}") from exc
    return spec.url


def _status(is_enabled: bool, reason: str | None) -> tuple[bool, str]:
    if is_enabled:
        if reason:
            raise EnabledWithReason(
                "statusChangeReason can only be given when isEnabled is false; to enable a "
                "webhook, omit statusChangeReason or send it empty."
            )
        return True, ""
    return False, reason or DISABLED_BY_USER


async def create(
    store: Store, principal: Principal, policy: DestinationPolicy, spec: WebhookSpec
) -> Webhook:
    principal.require_site_admin()
    name = _check_name(spec.name)
    event = resolve_event(spec)
    if event is None:
        raise BadRequest("The webhook needs an event: the event attribute or <webhook-source>.")
    url = _check_destination(spec, policy)
    enabled, reason = _status(
        True if spec.is_enabled is None else spec.is_enabled, spec.status_change_reason
    )
    async with store.write() as conn:
        return await webhooks_store.create(
            conn,
            site_id=principal.site.id,
            name=name,
            event=event.name,
            url=url,
            is_enabled=enabled,
            status_change_reason=reason,
            owner_id=principal.user.id,
            owner_name=principal.user.name,
        )


async def listing(store: Store, principal: Principal) -> Sequence[WebhookOut]:
    principal.require_site_admin()
    async with store.read() as conn:
        return await webhooks_store.list_for_site(conn, principal.site.id)


async def get(store: Store, principal: Principal, webhook_id: str) -> WebhookOut:
    principal.require_site_admin()
    async with store.read() as conn:
        webhook = await webhooks_store.get_out(conn, principal.site.id, webhook_id)
    if webhook is None:
        raise WebhookNotFound(f"No webhook with id '{webhook_id}' exists on this site.")
    return webhook


async def update(
    store: Store,
    principal: Principal,
    policy: DestinationPolicy,
    webhook_id: str,
    spec: WebhookSpec,
) -> Webhook:
    """Change only what the request names (Tableau documents name as required; we don't)."""
    principal.require_site_admin()
    changes: dict[str, object] = {}
    if spec.name is not None:
        changes["name"] = _check_name(spec.name)
    event = resolve_event(spec)
    if event is not None:
        changes["event"] = event.name
    if spec.url is not None or spec.method is not None:
        if spec.url is None:
            raise BadRequest("The webhook destination url is required with a method.")
        changes["url"] = _check_destination(spec, policy)
    site_id = principal.site.id
    async with store.write() as conn:
        current = await webhooks_store.get(conn, site_id, webhook_id)
        if current is None:
            raise WebhookNotFound(f"No webhook with id '{webhook_id}' exists on this site.")
        if spec.is_enabled is not None or spec.status_change_reason is not None:
            wanted = current.is_enabled if spec.is_enabled is None else spec.is_enabled
            if spec.is_enabled is None and not wanted:
                # Only the reason of a disabled webhook changes.
                reason = spec.status_change_reason or current.status_change_reason
                enabled, reason = False, reason or DISABLED_BY_USER
            else:
                enabled, reason = _status(wanted, spec.status_change_reason)
            changes["is_enabled"] = enabled
            changes["status_change_reason"] = reason
            if enabled and not current.is_enabled:
                changes["consecutive_failures"] = 0
        if changes:
            await webhooks_store.change(conn, site_id, webhook_id, **changes)
        updated = await webhooks_store.get(conn, site_id, webhook_id)
    assert updated is not None
    return updated


async def delete(store: Store, principal: Principal, webhook_id: str) -> None:
    principal.require_site_admin()
    async with store.write() as conn:
        if not await webhooks_store.remove(conn, principal.site.id, webhook_id):
            raise WebhookNotFound(f"No webhook with id '{webhook_id}' exists on this site.")


async def get_for_test(store: Store, principal: Principal, webhook_id: str) -> Webhook:
    """The webhook to test; a missing one is Tableau's 400113."""
    principal.require_site_admin()
    async with store.read() as conn:
        webhook = await webhooks_store.get(conn, principal.site.id, webhook_id)
    if webhook is None:
        raise WebhookTestNotFound(f"No webhook with id '{webhook_id}' exists on this site.")
    return webhook
