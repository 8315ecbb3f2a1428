"""tabhooks' own operations: signing secrets, the delivery log, redelivery and recovery."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tabhooks.delivery import signing
from tabhooks.errors import BadRequest, Conflict, ResourceNotFound
from tabhooks.services import webhooks as webhooks_service
from tabhooks.services.principal import Principal
from tabhooks.store import Store, outbox
from tabhooks.store import deliveries as queue
from tabhooks.store import secrets as secrets_store
from tabhooks.store.tables import utcnow_precise

#: How long a rotated-out secret keeps signing, so receivers can switch without losing events.
ROTATION_OVERLAP = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class SecretView:
    """A webhook's signing secrets: the current one and any still valid after rotation."""

    current: str | None
    previous: list[dict[str, Any]]


async def secrets(store: Store, principal: Principal, webhook_id: str) -> SecretView:
    await webhooks_service.get(store, principal, webhook_id)
    async with store.read() as conn:
        rows = await secrets_store.live(conn, webhook_id)
    current = next((r["secret"] for r in rows if r["expires_at"] is None), None)
    previous = [
        {"secret": r["secret"], "expires_at": r["expires_at"]}
        for r in rows
        if r["expires_at"] is not None
    ]
    return SecretView(str(current) if current else None, previous)


async def rotate_secret(
    store: Store, principal: Principal, webhook_id: str, secret: str | None = None
) -> SecretView:
    """Create (or rotate to) a secret; the old one keeps signing for :data:`ROTATION_OVERLAP`."""
    await webhooks_service.get(store, principal, webhook_id)
    new_secret = secret or signing.generate_secret()
    try:
        signing.decode_secret(new_secret)  # refuse a malformed secret before storing it
    except ValueError as exc:
        raise BadRequest(f"The secret is malformed: {exc}.") from exc
    async with store.write() as conn:
        await secrets_store.rotate(
            conn,
            webhook_id,
            secret=new_secret,
            old_expires_at=utcnow_precise() + ROTATION_OVERLAP,
        )
    return await secrets(store, principal, webhook_id)


async def remove_secrets(store: Store, principal: Principal, webhook_id: str) -> None:
    await webhooks_service.get(store, principal, webhook_id)
    async with store.write() as conn:
        await secrets_store.revoke_all(conn, webhook_id)


async def listing(
    store: Store,
    principal: Principal,
    *,
    webhook_id: str | None,
    status: str | None,
    since: datetime | None,
    until: datetime | None,
    before: str | None,
    limit: int,
    relay_route_id: str | None = None,
    event: str | None = None,
) -> list[dict[str, Any]]:
    principal.require_site_admin()
    async with store.read() as conn:
        return await queue.list_for_site(
            conn,
            principal.site.id,
            webhook_id=webhook_id,
            status=status,
            since=since,
            until=until,
            before_id=before,
            limit=limit,
            relay_route_id=relay_route_id,
            event=event,
        )


async def detail(
    store: Store, principal: Principal, delivery_id: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    principal.require_site_admin()
    async with store.read() as conn:
        delivery = await queue.get(conn, principal.site.id, delivery_id)
        if delivery is None:
            raise ResourceNotFound(f"No delivery with id '{delivery_id}' exists on this site.")
        return delivery, await queue.attempts_of(conn, delivery_id)


async def redeliver(store: Store, principal: Principal, delivery_id: str) -> None:
    """Send a finished delivery again (same ``webhook-id``, so receivers can de-duplicate)."""
    principal.require_site_admin()
    async with store.write() as conn:
        delivery = await queue.get(conn, principal.site.id, delivery_id)
        if delivery is None:
            raise ResourceNotFound(f"No delivery with id '{delivery_id}' exists on this site.")
        if not await queue.requeue(conn, principal.site.id, delivery_ids=[delivery_id]):
            raise Conflict(f"Delivery '{delivery_id}' is still {delivery['status']}; wait for it.")
        await outbox.signal_new_work(conn)


async def recover(store: Store, principal: Principal, since: datetime) -> int:
    """Queue again every delivery of this site that failed since ``since``."""
    principal.require_site_admin()
    async with store.write() as conn:
        count = await queue.requeue(conn, principal.site.id, failed_since=since)
        if count:
            await outbox.signal_new_work(conn)
    return count
