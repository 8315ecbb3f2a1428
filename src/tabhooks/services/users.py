"""User use cases: site administrators add, list, change and remove a site's users; personal
access tokens are created, listed and revoked.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from tabhooks.errors import BadRequest, Forbidden, PatNotFound, UserConflict, UserNotFound
from tabhooks.models import SiteRole, User
from tabhooks.services import auth, passwords, revocation
from tabhooks.services.emit import emit
from tabhooks.services.principal import Principal
from tabhooks.store import Store
from tabhooks.store import sessions as sessions_store
from tabhooks.store import users as users_store
from tabhooks.store import webhooks as webhooks_store
from tabhooks.store.listing import Listing
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

    @property
    def touches_identity(self) -> bool:
        """Whether a server-wide field changes (name, full name, email, password)."""
        return any(v is not None for v in (self.name, self.full_name, self.email, self.password))


def _may_see_email(principal: Principal, user: User, *, on_other_sites: bool) -> bool:
    """Email is shown to whoever may change it: a server admin, the user, or a site admin of a
    user who belongs to this site alone (an adopted user's email stays with their other sites).
    """
    viewer = principal.user
    if viewer.is_server_admin or viewer.id == user.id:
        return True
    return viewer.is_site_admin and not user.is_server_admin and not on_other_sites


async def _shown(conn: AsyncConnection, principal: Principal, found: list[User]) -> list[User]:
    """``found`` as the caller may see them (emails they may not manage left out)."""
    shared = await users_store.on_other_sites(conn, principal.site.id, [u.id for u in found])
    return [
        u if _may_see_email(principal, u, on_other_sites=u.id in shared) else replace(u, email=None)
        for u in found
    ]


async def add(store: Store, principal: Principal, *, name: str, site_role: str | None) -> User:
    """Add a user to the caller's site, creating the server-level identity if new.

    Users are server-wide, as on Tableau Server: a name that exists already adds that user to
    this site. The answer (Tableau's: id, name, site role) is the same either way, so adding
    reveals nothing about the user's other sites.
    """
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
        found, total = await users_store.list_on_site(
            conn, principal.site.id, name=name, site_role=site_role, offset=offset, limit=limit
        )
        return await _shown(conn, principal, found), total


async def search(store: Store, principal: Principal, query: Listing) -> tuple[list[User], int]:
    """Get Users on Site: Tableau's filters, sort and page (emails as :func:`listing`)."""
    async with store.read() as conn:
        found, total = await users_store.search(conn, principal.site.id, query)
        return await _shown(conn, principal, found), total


async def get(store: Store, principal: Principal, user_id: str) -> User:
    async with store.read() as conn:
        user = await users_store.get_on_site(conn, principal.site.id, user_id)
        if user is None:
            raise UserNotFound(f"No user with id '{user_id}' is a member of this site.")
        return (await _shown(conn, principal, [user]))[0]


async def _require_identity_rights(conn: AsyncConnection, principal: Principal, user: User) -> None:
    """Only a server admin changes anyone's name, full name, email or password; a site admin
    only those of users who belong to no other site and do not administer the server.

    Users are server-wide: a site admin who could set the password of a user shared with
    another site (or of the server administrator) could sign in as them there.
    """
    if principal.user.is_server_admin or user.id == principal.user.id:
        return
    if user.is_server_admin or await users_store.site_count(conn, user.id) > 1:
        raise Forbidden(
            f"Only a server administrator can change the name, full name, email or password of "
            f"'{user.name}': the user belongs to other sites or administers the server."
        )


async def _changeable(
    conn: AsyncConnection, principal: Principal, user_id: str, changes: UserChanges
) -> User:
    """The user ``changes`` may be applied to, or the reason why not."""
    user = await users_store.get_on_site(conn, principal.site.id, user_id)
    if user is None:
        raise UserNotFound(f"No user with id '{user_id}' is a member of this site.")
    if changes.touches_identity:
        await _require_identity_rights(conn, principal, user)
    if changes.site_role is not None and user.is_server_admin:
        raise Forbidden("A server administrator's site role cannot be changed.")
    return user


async def update(store: Store, principal: Principal, user_id: str, changes: UserChanges) -> User:
    """Change a user; users may change their own password and names, admins more.

    A password change ends the user's other sessions everywhere; a change to Unlicensed ends
    their sessions on this site.
    """
    is_self = user_id == principal.user.id
    if not is_self or changes.site_role is not None:
        principal.require_site_admin()
    role = parse_role(changes.site_role) if changes.site_role is not None else None
    identity_changes: dict[str, object] = {}
    if changes.name is not None:
        if not changes.name.strip():
            raise BadRequest("The user name must not be empty.")
        identity_changes["name"] = changes.name
    if changes.full_name is not None:
        identity_changes["full_name"] = changes.full_name
    if changes.email is not None:
        identity_changes["email"] = changes.email
    if changes.password is not None:
        if len(changes.password) < 1:
            raise BadRequest("The password must not be empty.")
        # Checked first so a refused caller never spends a hash; hashed outside the write
        # transaction (argon2 is slow by design), then checked again inside it.
        async with store.read() as conn:
            await _changeable(conn, principal, user_id, changes)
        identity_changes["password_hash"] = await passwords.hash_secret(changes.password)
    site_id = principal.site.id
    async with store.write() as conn:
        user = await _changeable(conn, principal, user_id, changes)
        if changes.password is not None:
            await auth.end_sessions(
                conn, user_id, keep_token_hash=principal.session.token_hash if is_self else None
            )
        await users_store.set_identity(conn, user_id, **identity_changes)
        if role is not None:
            await users_store.set_site_role(conn, site_id, user_id, role)
            if role is SiteRole.UNLICENSED:
                await auth.end_sessions(conn, user_id, site_id=site_id)
            if role.is_site_admin != user.site_role.is_site_admin:
                await emit(
                    conn,
                    "AdminPromoted" if role.is_site_admin else "AdminDemoted",
                    site_id=site_id,
                    resource_luid=user_id,
                    resource_name=str(identity_changes.get("name", user.name)),
                )
        if role is not None or identity_changes:  # cached sessions carry the old user
            await revocation.announce(conn, revocation.user(user_id))
        changed = await users_store.get_on_site(conn, site_id, user_id)
        assert changed is not None
        return (await _shown(conn, principal, [changed]))[0]


async def remove(store: Store, principal: Principal, user_id: str) -> None:
    """Remove a user from the caller's site, ending their sessions on it.

    The user is deleted only when this was their last site (so a site admin deletes only users
    that belong to no other site); server administrators are never removed.
    """
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
        await auth.end_sessions(conn, user_id, site_id=site_id)
        if await users_store.site_count(conn, user_id) == 0:
            await users_store.remove_identity(conn, user_id)
        await emit(
            conn, "UserDeleted", site_id=site_id, resource_luid=user_id, resource_name=user.name
        )


def _require_pat_rights(principal: Principal | None, user_name: str) -> None:
    """A user manages their own tokens; a server admin (or the local CLI) anyone's.

    Checked before the name is looked up, so the answer never tells whether a user exists.
    """
    if principal is None or user_name.lower() == principal.user.name.lower():
        return
    if not principal.user.is_server_admin:
        raise Forbidden(
            "Only a server administrator can manage another user's personal access tokens."
        )


async def _pat_owner(store: Store, principal: Principal | None, user_name: str) -> str:
    _require_pat_rights(principal, user_name)
    async with store.read() as conn:
        identity = await users_store.find_identity(conn, user_name)
    if identity is None:
        raise UserNotFound(f"No user is named '{user_name}'.")
    return str(identity["id"])


async def create_pat(
    store: Store, principal: Principal | None, *, user_name: str, token_name: str
) -> tuple[str, str]:
    """Create a personal access token; returns ``(user_id, secret)``. The secret is shown once.

    ``principal`` is ``None`` when called from the local admin CLI, which has the store itself.
    """
    user_id = await _pat_owner(store, principal, user_name)
    if not token_name.strip():
        raise BadRequest("The token name must not be empty.")
    secret = secrets.token_urlsafe(24)
    await store_pat(store, user_id=user_id, name=token_name, secret=secret)
    return user_id, secret


async def list_pats(
    store: Store, principal: Principal | None, *, user_name: str | None
) -> list[sessions_store.PatInfo]:
    """Names and dates of personal access tokens (never secrets).

    ``user_name`` ``None`` means the caller's own, or everyone's for the local CLI.
    """
    if user_name is None and principal is not None:
        user_name = principal.user.name
    user_id = None if user_name is None else await _pat_owner(store, principal, user_name)
    async with store.read() as conn:
        return await sessions_store.list_pats(conn, user_id)


async def revoke_pat(
    store: Store, principal: Principal | None, *, user_name: str, token_name: str
) -> int:
    """Delete a personal access token and end the sessions signed in with it at once.

    Returns how many sessions were ended.
    """
    user_id = await _pat_owner(store, principal, user_name)
    async with store.write() as conn:
        pat = await sessions_store.pat_of_user(conn, user_id, token_name)
        if pat is None:
            raise PatNotFound(f"'{user_name}' has no personal access token named '{token_name}'.")
        ended = await sessions_store.close_pat_sessions(conn, str(pat["id"]))
        await sessions_store.remove_pat(conn, str(pat["id"]))
        await revocation.announce(conn, revocation.user(user_id))
    return ended


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
