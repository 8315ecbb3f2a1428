"""On-demand events (a tabhooks extension): emit any catalog event without the action.

For testing an integration: the payload is exactly what the real action would send. With a
``resource_luid`` of the caller's site or of a user on it the name is looked up; otherwise the
caller names a resource (a fake one is fine) and gets a fresh LUID.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from tabhooks import events
from tabhooks.errors import BadRequest
from tabhooks.services.emit import emit
from tabhooks.services.principal import Principal
from tabhooks.store import Store
from tabhooks.store import sites as sites_store
from tabhooks.store import users as users_store


@dataclass(frozen=True, slots=True)
class Fired:
    event: str
    resource: str
    resource_name: str
    resource_luid: str
    deliveries: int


async def fire(
    store: Store,
    principal: Principal,
    *,
    event_name: str,
    resource_luid: str | None,
    resource_name: str | None,
    resource_type: str | None,
) -> Fired:
    principal.require_site_admin()
    event = events.lookup(event_name)
    resource = event.resource
    if resource_type is not None:
        try:
            resource = events.Resource(resource_type.upper())
        except ValueError:
            raise BadRequest(f"resource_type '{resource_type}' is not a resource type.") from None
        if resource not in event.resources:
            allowed = ", ".join(r.value for r in event.resources)
            raise BadRequest(f"{event.name} carries resource {allowed}, not {resource}.")
    async with store.write() as conn:
        name = resource_name
        if resource_luid and name is None:
            name = await _known_name(conn, principal.site.id, resource, resource_luid)
        luid = resource_luid or str(uuid.uuid4())
        if name is None:
            raise BadRequest(
                "Give resource_name, or the resource_luid of an existing site or user."
            )
        count = await emit(
            conn,
            event.name,
            site_id=principal.site.id,
            resource_luid=luid,
            resource_name=name,
            resource=resource,
        )
    return Fired(event.name, resource.value, name, luid, count)


async def _known_name(
    conn: AsyncConnection, site_id: str, resource: events.Resource, luid: str
) -> str | None:
    """The name of the caller's own site or of a user on it; nothing from other sites.

    Another site's id is answered like an unknown one, so the route cannot name tenants.
    """
    if resource is events.Resource.SITE:
        if luid.lower() != site_id.lower():
            return None
        site = await sites_store.get(conn, site_id)
        return site.name if site else None
    if resource is events.Resource.USER:
        user = await users_store.get_on_site(conn, site_id, luid)
        return user.name if user else None
    return None
