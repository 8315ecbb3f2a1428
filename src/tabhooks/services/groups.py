"""Group use cases: site administrators create, rename and delete a site's groups and manage
their members; every site member may list groups and their members (what a project leader
needs to grant a group a permission).

"All Users" is every site's built-in group: every user of the site is in it, it cannot be
renamed or deleted, and its members change only by adding users to or removing them from the
site.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from tabhooks.errors import (
    BadRequest,
    Forbidden,
    GroupConflict,
    GroupMemberConflict,
    GroupNotFound,
    UserNotFound,
)
from tabhooks.models import User
from tabhooks.services.principal import Principal
from tabhooks.services.users import parse_role
from tabhooks.store import Store
from tabhooks.store import groups as groups_store
from tabhooks.store import users as users_store
from tabhooks.store.groups import Group, GroupQuery


async def _require(conn: AsyncConnection, principal: Principal, group_id: str) -> Group:
    group = await groups_store.get(conn, principal.site.id, group_id)
    if group is None:
        raise GroupNotFound(f"No group with id '{group_id}' exists on this site.")
    return group


def _check_name(name: str | None) -> None:
    if name is not None and not name.strip():
        raise BadRequest("The group name must not be empty.")


def _role(value: str | None) -> str | None:
    """A minimum site role as Tableau names it (``None``: none), checked like a user's."""
    return None if value is None or value == "" else str(parse_role(value))


async def listing(store: Store, principal: Principal, query: GroupQuery) -> tuple[list[Group], int]:
    async with store.read() as conn:
        return await groups_store.page(conn, principal.site.id, query)


async def create(
    store: Store, principal: Principal, *, name: str, minimum_site_role: str | None
) -> Group:
    principal.require_site_admin()
    if not name or not name.strip():
        raise BadRequest("The request must give the group a name.")
    role = _role(minimum_site_role)
    site_id = principal.site.id
    async with store.write() as conn:
        if await groups_store.find(conn, site_id, name) is not None:
            raise GroupConflict(f"A group named '{name}' already exists on this site.")
        group_id = await groups_store.create(
            conn, site_id=site_id, name=name, minimum_site_role=role
        )
        return await _require(conn, principal, group_id)


@dataclass(frozen=True, slots=True)
class GroupChanges:
    """An Update Group request; ``None`` means unchanged (``""`` clears the minimum role)."""

    name: str | None = None
    minimum_site_role: str | None = None


async def update(store: Store, principal: Principal, group_id: str, changes: GroupChanges) -> Group:
    principal.require_site_admin()
    _check_name(changes.name)
    values: dict[str, object] = {}
    if changes.minimum_site_role is not None:
        values["minimum_site_role"] = _role(changes.minimum_site_role)
    async with store.write() as conn:
        group = await _require(conn, principal, group_id)
        if changes.name is not None and changes.name != group.name:
            if group.all_users:
                raise Forbidden("The All Users group cannot be renamed.")
            values["name"] = changes.name
        if values and not await groups_store.change(conn, group_id, **values):
            raise GroupConflict(f"A group named '{changes.name}' already exists on this site.")
        return await _require(conn, principal, group_id)


async def delete(store: Store, principal: Principal, group_id: str) -> None:
    """Delete a group; its memberships and the permission rules naming it go with it."""
    principal.require_site_admin()
    async with store.write() as conn:
        group = await _require(conn, principal, group_id)
        if group.all_users:
            raise Forbidden("The All Users group cannot be deleted.")
        await groups_store.remove(conn, group_id)


async def members(
    store: Store, principal: Principal, group_id: str, *, offset: int, limit: int
) -> tuple[list[User], int]:
    async with store.read() as conn:
        group = await _require(conn, principal, group_id)
        return await groups_store.members(conn, group, offset=offset, limit=limit)


async def groups_of(
    store: Store, principal: Principal, user_id: str, *, offset: int, limit: int
) -> tuple[list[Group], int]:
    site_id = principal.site.id
    async with store.read() as conn:
        if not await groups_store.site_member_ids(conn, site_id, [user_id]):
            raise UserNotFound(f"No user with id '{user_id}' is a member of this site.")
        return await groups_store.of_user(conn, site_id, user_id, offset=offset, limit=limit)


async def add_users(
    store: Store, principal: Principal, group_id: str, user_ids: Sequence[str], *, one: bool
) -> list[User]:
    """Add users to a group; returns them as the site sees them.

    Args:
        one: Add User to Group (one user): a member already is ``409011``. Adding several
            (Tableau's bulk add) skips those already in.
    """
    principal.require_site_admin()
    if not user_ids:
        raise BadRequest("The request must name at least one <user id=...>.")
    site_id = principal.site.id
    wanted = list(dict.fromkeys(user_ids))
    async with store.write() as conn:
        group = await _require(conn, principal, group_id)
        on_site = await groups_store.site_member_ids(conn, site_id, wanted)
        missing = [u for u in wanted if u not in on_site]
        if missing:
            raise UserNotFound(f"No user with id '{missing[0]}' is a member of this site.")
        already = (
            set(wanted)
            if group.all_users
            else await groups_store.member_ids(conn, group_id, wanted)
        )
        if one and already:
            raise GroupMemberConflict(
                f"The user '{wanted[0]}' is already a member of group '{group.name}'."
            )
        await groups_store.add_members(
            conn, site_id, group_id, [u for u in wanted if u not in already]
        )
        added = [await users_store.get_on_site(conn, site_id, u) for u in wanted]
    return [u for u in added if u is not None]


async def remove_users(
    store: Store, principal: Principal, group_id: str, user_ids: Sequence[str]
) -> None:
    """Remove users from a group; a user who is not in it is ``404002``."""
    principal.require_site_admin()
    if not user_ids:
        raise BadRequest("The request must name at least one <user id=...>.")
    wanted = list(dict.fromkeys(user_ids))
    async with store.write() as conn:
        group = await _require(conn, principal, group_id)
        if group.all_users:
            raise Forbidden(
                "Every user of the site is in All Users: remove the user from the site instead."
            )
        members = await groups_store.member_ids(conn, group_id, wanted)
        missing = [u for u in wanted if u not in members]
        if missing:
            raise UserNotFound(f"The user '{missing[0]}' is not a member of group '{group.name}'.")
        await groups_store.remove_members(conn, group_id, wanted)
