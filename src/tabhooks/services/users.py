"""User use cases: site administrators add, list, change and remove a site's users."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from tabhooks.errors import BadRequest, Forbidden, UserConflict, UserNotFound
from tabhooks.models import SiteRole, User
from tabhooks.services import passwords
from tabhooks.services.emit import emit
from tabhooks.services.principal import Principal
from tabhooks.store import Store
from tabhooks.store import sessions as sessions_store
from tabhooks.store import users as users_store
from tabhooks.store import webhooks as webhooks_store
from tabhooks.store.tables import utcnow

#: Tableau Server's longest personal access token lifetime.
PAT_LIFETIME = timedelta(days=365)


def parse_role(value: str | None) -> SiteRole:
    """A site role by Tableau's name; server administration is not granted through a site."""
    try:
        role = SiteRole(value or "")
    except ValueError:
        valid = ", ".join(r.value for r in SiteRole if r is not SiteRole.SERVER_ADMINISTRATOR)
        raise BadRequest(f"siteRole '{value}' is not valid. Valid roles: {valid}.") from None
    if role is SiteRole.SERVER_ADMINISTRATOR:
        raise BadRequest("siteRole ServerAdministrator cannot be assigned through a site.")
    return role


@dataclass(frozen=True, slots=True)
class UserChanges:
    """Fields of an Update User request; ``None`` means unchanged."""

    name: str | None = None
    full_name: str | None = None
    email: str | None = None
    password: str | None = None
    site_role: str | None = None


async def add(store: Store, principal: Principal, *, name: str, site_role: str | None) -> User:
    """Add a user to the caller's site, creating the server-level identity if new."""
    principal.require_site_admin()
    if not name or not name.strip():
        raise BadRequest("The user name must not be empty.")
    role = parse_role(site_role)
    site_id = principal.site.id
    async with store.write() as conn:
        identity = await users_store.find_identity(conn, name)
        if identity is None:
            user_id = await users_store.create_identity(conn, name=name, password_hash=None)
        else:
            user_id = str(identity["id"])
            if await users_store.is_member(conn, site_id, user_id):
                raise UserConflict(f"User '{name}' is already a member of this site.")
        await users_store.add_to_site(conn, site_id=site_id, user_id=user_id, site_role=role)
        user = await users_store.get_on_site(conn, site_id, user_id)
    assert user is not None
    return user


async def listing(
    store: Store,
    principal: Principal,
    *,
    name: str | None,
    site_role: str | None,
    offset: int,
    limit: int,
) -> tuple[list[User], int]:
    async with store.read() as conn:
        return await users_store.list_on_site(
            conn, principal.site.id, name=name, site_role=site_role, offset=offset, limit=limit
        )


async def get(store: Store, principal: Principal, user_id: str) -> User:
    async with store.read() as conn:
        user = await users_store.get_on_site(conn, principal.site.id, user_id)
    if user is None:
        raise UserNotFound(f"No user with id '{user_id}' is a member of this site.")
    return user


async def update(store: Store, principal: Principal, user_id: str, changes: UserChanges) -> User:
    """Change a user; users may change their own password and names, admins anything."""
    is_self = user_id == principal.user.id
    if not is_self or changes.site_role is not None:
        principal.require_site_admin()
    role = parse_role(changes.site_role) if changes.site_role is not None else None
    identity_changes: dict[str, object] = {}
    if changes.name is not None:
        identity_changes["name"] = changes.name
    if changes.full_name is not None:
        identity_changes["full_name"] = changes.full_name
    if changes.email is not None:
        identity_changes["email"] = changes.email
    if changes.password is not None:
        if len(changes.password) < 1:
            raise BadRequest("The password must not be empty.")
        identity_changes["password_hash"] = await passwords.hash_secret(changes.password)
    site_id = principal.site.id
    async with store.write() as conn:
        user = await users_store.get_on_site(conn, site_id, user_id)
        if user is None:
            raise UserNotFound(f"No user with id '{user_id}' is a member of this site.")
        if role is not None and user.is_server_admin:
            raise Forbidden("A server administrator's site role cannot be changed.")
        await users_store.set_identity(conn, user_id, **identity_changes)
        if role is not None:
            await users_store.set_site_role(conn, site_id, user_id, role)
            if role.is_site_admin != user.site_role.is_site_admin:
                await emit(
                    conn,
                    "AdminPromoted" if role.is_site_admin else "AdminDemoted",
                    site_id=site_id,
                    resource_luid=user_id,
                    resource_name=str(identity_changes.get("name", user.name)),
                )
        user = await users_store.get_on_site(conn, site_id, user_id)
    assert user is not None
    return user


async def remove(store: Store, principal: Principal, user_id: str) -> None:
    principal.require_site_admin()
    if user_id == principal.user.id:
        raise Forbidden("You cannot remove yourself from the site.")
    site_id = principal.site.id
    async with store.write() as conn:
        user = await users_store.get_on_site(conn, site_id, user_id)
        if user is None:
            raise UserNotFound(f"No user with id '{user_id}' is a member of this site.")
        if user.is_server_admin:
            raise Forbidden("A server administrator cannot be removed from a site.")
        await webhooks_store.reassign_owner(conn, site_id, user_id, principal.user.id)
        await users_store.remove_from_site(conn, site_id, user_id)
        if await users_store.site_count(conn, user_id) == 0:
            await users_store.remove_identity(conn, user_id)
        await emit(
            conn, "UserDeleted", site_id=site_id, resource_luid=user_id, resource_name=user.name
        )


async def create_pat(
    store: Store, principal: Principal | None, *, user_name: str, token_name: str
) -> tuple[str, str]:
    """Create a personal access token; returns ``(user_id, secret)``. The secret is shown once.

    ``principal`` is ``None`` when called from the local admin CLI, which has the store itself.
    """
    async with store.read() as conn:
        identity = await users_store.find_identity(conn, user_name)
    if identity is None:
        raise UserNotFound(f"No user is named '{user_name}'.")
    user_id = str(identity["id"])
    if principal is not None and principal.user.id != user_id:
        principal.require_server_admin()
    if not token_name.strip():
        raise BadRequest("The token name must not be empty.")
    secret = secrets.token_urlsafe(24)
    await store_pat(store, user_id=user_id, name=token_name, secret=secret)
    return user_id, secret


async def store_pat(store: Store, *, user_id: str, name: str, secret: str) -> None:
    """Save a PAT whose secret the caller chose (bootstrap) or generated."""
    secret_hash = await passwords.hash_secret(secret)
    async with store.write() as conn:
        if await sessions_store.pat_of_user(conn, user_id, name) is not None:
            raise UserConflict(f"The user already has a personal access token named '{name}'.")
        await sessions_store.create_pat(
            conn,
            user_id=user_id,
            name=name,
            secret_hash=secret_hash,
            expires_at=utcnow() + PAT_LIFETIME,
        )
