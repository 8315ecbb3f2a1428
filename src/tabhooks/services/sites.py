"""Site use cases: server administrators create, change and delete sites; site administrators
change their own.
"""

from __future__ import annotations

import re

from tabhooks.errors import BadRequest, Forbidden, SiteNotFound
from tabhooks.models import Site, SiteRole
from tabhooks.services import auth, revocation
from tabhooks.services.emit import emit
from tabhooks.services.principal import Principal
from tabhooks.store import Store
from tabhooks.store import projects as projects_store
from tabhooks.store import sessions as sessions_store
from tabhooks.store import sites as sites_store
from tabhooks.store import users as users_store

_CONTENT_URL = re.compile(r"^[A-Za-z0-9_-]{0,255}$")
ADMIN_MODES = ("ContentAndUsers", "ContentOnly")


def _check(name: str | None, content_url: str | None, admin_mode: str | None) -> None:
    if name is not None and not name.strip():
        raise BadRequest("The site name must not be empty.")
    if content_url is not None and not _CONTENT_URL.match(content_url):
        raise BadRequest(
            f"contentUrl '{content_url}' may contain only letters, digits, '-' and '_'."
        )
    if admin_mode is not None and admin_mode not in ADMIN_MODES:
        raise BadRequest(f"adminMode must be one of {', '.join(ADMIN_MODES)}.")


async def create(
    store: Store, principal: Principal, *, name: str, content_url: str, admin_mode: str | None
) -> Site:
    principal.require_server_admin()
    _check(name, content_url, admin_mode)
    async with store.write() as conn:
        site = await sites_store.create(
            conn, name=name, content_url=content_url, admin_mode=admin_mode or ADMIN_MODES[0]
        )
        # Server administrators see every site, as on Tableau Server.
        for admin_id in await users_store.server_admin_ids(conn):
            await users_store.add_to_site(
                conn,
                site_id=site.id,
                user_id=admin_id,
                site_role=SiteRole.SITE_ADMINISTRATOR_CREATOR,
            )
        await projects_store.ensure_default(conn, site.id, principal.user.id)
        await emit(
            conn,
            "SiteCreated",
            site_id=principal.site.id,
            resource_luid=site.id,
            resource_name=site.name,
        )
    return site


async def listing(
    store: Store, principal: Principal, *, offset: int, limit: int
) -> tuple[list[Site], int]:
    async with store.read() as conn:
        if principal.user.is_server_admin:
            return await sites_store.page(
                conn, offset=offset, limit=limit
            ), await sites_store.count(conn)
        found = [
            await sites_store.get(conn, site_id)
            for site_id in await users_store.site_ids_of(conn, principal.user.id)
        ]
    mine = sorted((s for s in found if s is not None), key=lambda s: s.name)
    return mine[offset : offset + limit], len(mine)


async def get(store: Store, principal: Principal, key: str, *, by: str = "id") -> Site:
    async with store.read() as conn:
        if by == "name":
            site = await sites_store.get_by_name(conn, key)
        elif by == "contentUrl":
            site = await sites_store.get_by_content_url(conn, key)
        elif by == "id":
            site = await sites_store.get(conn, key)
        else:
            raise BadRequest(f"key must be id, name or contentUrl, not '{by}'.")
    if site is None or (not principal.user.is_server_admin and site.id != principal.site.id):
        raise SiteNotFound(f"No site matches {by} '{key}'.")
    return site


async def update(
    store: Store,
    principal: Principal,
    site_id: str,
    *,
    name: str | None,
    content_url: str | None,
    admin_mode: str | None,
    state: str | None,
) -> Site:
    """Change a site: its own site administrators, or a server administrator, may.

    The default site's contentUrl (``""``) never changes: every client signs in to it by that
    empty name, and another site could otherwise claim it. Only a server administrator
    suspends or reactivates a site; suspending ends the sessions of everyone else on it.
    Values equal to the current ones are accepted from anyone who may update the site (TSC
    sends every attribute back).
    """
    if site_id != principal.site.id:
        principal.require_server_admin()
    principal.require_site_admin()
    _check(name, content_url, admin_mode)
    if state is not None and state not in ("Active", auth.SUSPENDED):
        raise BadRequest("state must be Active or Suspended.")
    changes = {
        k: v
        for k, v in {
            "name": name,
            "content_url": content_url,
            "admin_mode": admin_mode,
            "state": state,
        }.items()
        if v is not None
    }
    async with store.write() as conn:
        current = await sites_store.get(conn, site_id)
        if current is None:
            raise SiteNotFound(f"No site has id '{site_id}'.")
        if current.content_url == "" and changes.get("content_url", "") != "":
            raise Forbidden("The default site's contentUrl cannot be changed.")
        suspending = state == auth.SUSPENDED and current.state != auth.SUSPENDED
        if state is not None and state != current.state:
            principal.require_server_admin()
        site = await sites_store.change(conn, site_id, **changes)
        assert site is not None
        if suspending:
            await sessions_store.close_site_sessions(
                conn, site_id, except_user_ids=await users_store.server_admin_ids(conn)
            )
        await revocation.announce(conn, revocation.EVERYONE)
        await emit(
            conn,
            "SiteUpdated",
            site_id=principal.site.id,
            resource_luid=site.id,
            resource_name=site.name,
        )
    return site


async def delete(store: Store, principal: Principal, site_id: str) -> None:
    """Delete a site (server administrators; never the default site). Its sessions go with it."""
    principal.require_server_admin()
    async with store.write() as conn:
        site = await sites_store.get(conn, site_id)
        if site is None:
            raise SiteNotFound(f"No site has id '{site_id}'.")
        if site.content_url == "":
            raise Forbidden("The default site cannot be deleted.")
        await sites_store.remove(conn, site_id)
        await revocation.announce(conn, revocation.EVERYONE)
        # Deleting the site you are on takes its webhooks with it: tell the default site's.
        listener = principal.site.id
        if listener == site_id:
            default = await sites_store.get_by_content_url(conn, "")
            assert default is not None
            listener = default.id
        await emit(
            conn, "SiteDeleted", site_id=listener, resource_luid=site.id, resource_name=site.name
        )
