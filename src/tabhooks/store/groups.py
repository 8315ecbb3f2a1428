"""Named statements over ``groups`` and ``group_members``.

Every site has one "All Users" group (``all_users`` true). Its members are the site's users
themselves — it has no membership rows — so adding a user to the site puts them in it and
removing them takes them out, with nothing to keep in step. Memberships of the other groups
hang off the user's site membership (a foreign key to ``site_users``), so a user removed from
a site leaves its groups in the same statement.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self

from sqlalchemy import ColumnElement, Select, and_, case, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tabhooks.models import User
from tabhooks.store.tables import group_members, groups, site_users, users, utcnow

ALL_USERS = "All Users"


@dataclass(frozen=True, slots=True)
class Group:
    """A group of a site's users, with how many users it has."""

    id: str
    site_id: str
    name: str
    minimum_site_role: str | None
    all_users: bool
    user_count: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Self:
        m = row._mapping
        return cls(
            id=m["id"],
            site_id=m["site_id"],
            name=m["name"],
            minimum_site_role=m["minimum_site_role"],
            all_users=bool(m["all_users"]),
            user_count=int(m["user_count"] or 0),
            created_at=m["created_at"],
            updated_at=m["updated_at"],
        )


def _user_count() -> ColumnElement[int]:
    """How many users a group has: the site's users for All Users, its members otherwise."""
    members = (
        select(func.count())
        .select_from(group_members)
        .where(group_members.c.group_id == groups.c.id)
        .scalar_subquery()
    )
    site_size = (
        select(func.count())
        .select_from(site_users)
        .where(site_users.c.site_id == groups.c.site_id)
        .scalar_subquery()
    )
    return case((groups.c.all_users.is_(True), site_size), else_=members)


def _listed() -> Select[tuple[Any, ...]]:
    return select(groups, _user_count().label("user_count"))


async def ensure_all_users(conn: AsyncConnection, site_id: str) -> str:
    """The id of the site's All Users group, created if the site has none yet."""
    found = await all_users_id(conn, site_id)
    if found is not None:
        return found
    return await _insert(conn, site_id, ALL_USERS, None, all_users=True)


async def all_users_id(conn: AsyncConnection, site_id: str) -> str | None:
    found = (
        await conn.execute(
            select(groups.c.id).where(groups.c.site_id == site_id, groups.c.all_users.is_(True))
        )
    ).scalar_one_or_none()
    return None if found is None else str(found)


async def create(
    conn: AsyncConnection, *, site_id: str, name: str, minimum_site_role: str | None
) -> str:
    """Insert a group and return its id (the caller checks the name is free first)."""
    return await _insert(conn, site_id, name, minimum_site_role, all_users=False)


async def _insert(
    conn: AsyncConnection,
    site_id: str,
    name: str,
    minimum_site_role: str | None,
    *,
    all_users: bool,
) -> str:
    group_id = str(uuid.uuid4())
    now = utcnow()
    await conn.execute(
        insert(groups).values(
            id=group_id,
            site_id=site_id,
            name=name,
            name_key=name.lower(),
            minimum_site_role=minimum_site_role,
            all_users=all_users,
            created_at=now,
            updated_at=now,
        )
    )
    return group_id


async def find(conn: AsyncConnection, site_id: str, name: str) -> Group | None:
    row = (
        await conn.execute(
            _listed().where(groups.c.site_id == site_id, groups.c.name_key == name.lower())
        )
    ).first()
    return Group.from_row(row) if row else None


async def get(conn: AsyncConnection, site_id: str, group_id: str) -> Group | None:
    row = (
        await conn.execute(_listed().where(groups.c.site_id == site_id, groups.c.id == group_id))
    ).first()
    return Group.from_row(row) if row else None


@dataclass(frozen=True, slots=True)
class GroupQuery:
    """Filters, sort and page of Query Groups; ``None`` means not filtered."""

    names: tuple[str, ...] | None = None
    ids: tuple[str, ...] | None = None
    minimum_site_roles: tuple[str, ...] | None = None
    domain_names: tuple[str, ...] | None = None
    #: ``(operator, value)`` on the number of users: eq, gt, gte, lt, lte.
    user_count: tuple[str, int] | None = None
    #: ``(field, descending)`` keys, first key first: name, minimumSiteRole, userCount.
    sort: tuple[tuple[str, bool], ...] = (("name", False),)
    offset: int = 0
    limit: int = 100


_COMPARE = {
    "eq": lambda c, v: c == v,
    "gt": lambda c, v: c > v,
    "gte": lambda c, v: c >= v,
    "lt": lambda c, v: c < v,
    "lte": lambda c, v: c <= v,
}


async def page(conn: AsyncConnection, site_id: str, query: GroupQuery) -> tuple[list[Group], int]:
    counted = _listed().where(groups.c.site_id == site_id).subquery()
    statement = select(counted)
    if query.names is not None:
        statement = statement.where(counted.c.name_key.in_([n.lower() for n in query.names]))
    if query.ids is not None:
        statement = statement.where(counted.c.id.in_(query.ids))
    if query.minimum_site_roles is not None:
        statement = statement.where(counted.c.minimum_site_role.in_(query.minimum_site_roles))
    if query.domain_names is not None and "local" not in {d.lower() for d in query.domain_names}:
        statement = statement.where(counted.c.id.is_(None))  # every group here is local
    if query.user_count is not None:
        operator, value = query.user_count
        statement = statement.where(_COMPARE[operator](counted.c.user_count, value))
    total = (
        await conn.execute(select(func.count()).select_from(statement.subquery()))
    ).scalar_one()
    columns = {
        "name": counted.c.name_key,
        "minimumSiteRole": counted.c.minimum_site_role,
        "userCount": counted.c.user_count,
    }
    order = [
        columns[field].desc() if descending else columns[field].asc()
        for field, descending in query.sort
        if field in columns
    ]
    rows = await conn.execute(
        statement.order_by(*order, counted.c.name_key, counted.c.id)
        .offset(query.offset)
        .limit(query.limit)
    )
    return [Group.from_row(r) for r in rows], int(total)


async def change(conn: AsyncConnection, group_id: str, **values: object) -> bool:
    """Update a group; ``False`` when a new name clashes with another group's."""
    if "name" in values:
        values["name_key"] = str(values["name"]).lower()
    try:
        async with conn.begin_nested():
            await conn.execute(
                update(groups).where(groups.c.id == group_id).values(**values, updated_at=utcnow())
            )
    except IntegrityError:
        return False
    return True


async def remove(conn: AsyncConnection, group_id: str) -> None:
    await conn.execute(delete(groups).where(groups.c.id == group_id))


async def is_member(conn: AsyncConnection, group_id: str, user_id: str) -> bool:
    row = await conn.execute(
        select(group_members.c.user_id).where(
            group_members.c.group_id == group_id, group_members.c.user_id == user_id
        )
    )
    return row.first() is not None


async def add_members(
    conn: AsyncConnection, site_id: str, group_id: str, user_ids: Sequence[str]
) -> None:
    if user_ids:
        now = utcnow()
        await conn.execute(
            insert(group_members),
            [
                {"group_id": group_id, "user_id": u, "site_id": site_id, "created_at": now}
                for u in user_ids
            ],
        )


async def remove_members(conn: AsyncConnection, group_id: str, user_ids: Sequence[str]) -> None:
    await conn.execute(
        delete(group_members).where(
            group_members.c.group_id == group_id, group_members.c.user_id.in_(user_ids)
        )
    )


_SITE_VIEW = (
    *(c for c in users.c if c.name != "last_login"),
    site_users.c.site_role,
    site_users.c.last_login,
)


async def members(
    conn: AsyncConnection, group: Group, *, offset: int, limit: int
) -> tuple[list[User], int]:
    """A group's users as the site sees them, by name; All Users lists the whole site."""
    query = (
        select(*_SITE_VIEW)
        .join(site_users, site_users.c.user_id == users.c.id)
        .where(site_users.c.site_id == group.site_id)
    )
    if not group.all_users:
        query = query.join(
            group_members,
            and_(
                group_members.c.user_id == users.c.id,
                group_members.c.site_id == site_users.c.site_id,
                group_members.c.group_id == group.id,
            ),
        )
    total = (await conn.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    rows = await conn.execute(query.order_by(users.c.name_key).offset(offset).limit(limit))
    return [User.from_row(r) for r in rows], int(total)


async def of_user(
    conn: AsyncConnection, site_id: str, user_id: str, *, offset: int, limit: int
) -> tuple[list[Group], int]:
    """The groups a user of the site is in, All Users included, by name."""
    mine = select(group_members.c.group_id).where(
        group_members.c.site_id == site_id, group_members.c.user_id == user_id
    )
    query = _listed().where(
        groups.c.site_id == site_id, (groups.c.all_users.is_(True)) | groups.c.id.in_(mine)
    )
    total = (await conn.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    rows = await conn.execute(
        query.order_by(groups.c.name_key, groups.c.id).offset(offset).limit(limit)
    )
    return [Group.from_row(r) for r in rows], int(total)


async def ids_of_user(conn: AsyncConnection, site_id: str, user_id: str) -> set[str]:
    """Every group id the user counts as a member of on the site (All Users included)."""
    rows = await conn.execute(
        select(groups.c.id).where(
            groups.c.site_id == site_id,
            groups.c.all_users.is_(True)
            | groups.c.id.in_(
                select(group_members.c.group_id).where(
                    group_members.c.site_id == site_id, group_members.c.user_id == user_id
                )
            ),
        )
    )
    return {str(r.id) for r in rows}


async def site_member_ids(conn: AsyncConnection, site_id: str, user_ids: Sequence[str]) -> set[str]:
    """Which of ``user_ids`` belong to the site."""
    if not user_ids:
        return set()
    rows = await conn.execute(
        select(site_users.c.user_id).where(
            site_users.c.site_id == site_id, site_users.c.user_id.in_(user_ids)
        )
    )
    return {str(r.user_id) for r in rows}


async def member_ids(conn: AsyncConnection, group_id: str, user_ids: Sequence[str]) -> set[str]:
    """Which of ``user_ids`` are members of the group (rows only; not for All Users)."""
    if not user_ids:
        return set()
    rows = await conn.execute(
        select(group_members.c.user_id).where(
            group_members.c.group_id == group_id, group_members.c.user_id.in_(user_ids)
        )
    )
    return {str(r.user_id) for r in rows}
