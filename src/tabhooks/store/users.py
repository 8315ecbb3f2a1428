"""Named statements over ``users`` and their per-site roles (``site_users``)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Select, case, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tabhooks.errors import UserConflict
from tabhooks.models import SiteRole, User
from tabhooks.store import listing
from tabhooks.store.listing import EQ, EQ_IN, RANGE, Field, Kind
from tabhooks.store.tables import site_users, users, utcnow

#: A user as one site sees them: the identity, that site's role and last sign-in to that site.
_SITE_VIEW = (
    *(c for c in users.c if c.name != "last_login"),
    site_users.c.site_role,
    site_users.c.last_login,
)


def _on_site(site_id: str) -> Select[tuple[object, ...]]:
    return (
        select(*_SITE_VIEW)
        .join(site_users, site_users.c.user_id == users.c.id)
        .where(site_users.c.site_id == site_id)
    )


async def create_identity(
    conn: AsyncConnection,
    *,
    name: str,
    password_hash: str | None,
    full_name: str | None = None,
    email: str | None = None,
    is_server_admin: bool = False,
) -> str:
    """Insert a server-level user and return its id."""
    user_id = str(uuid.uuid4())
    await conn.execute(
        insert(users).values(
            id=user_id,
            name=name,
            name_key=name.lower(),
            full_name=full_name,
            email=email,
            password_hash=password_hash,
            is_server_admin=is_server_admin,
            created_at=utcnow(),
        )
    )
    return user_id


async def find_identity(conn: AsyncConnection, name: str) -> dict[str, object] | None:
    """The server-level row for a user name (case-insensitive), with its password hash."""
    row = (await conn.execute(select(users).where(users.c.name_key == name.lower()))).first()
    return dict(row._mapping) if row else None


async def identity(conn: AsyncConnection, user_id: str) -> dict[str, object] | None:
    row = (await conn.execute(select(users).where(users.c.id == user_id))).first()
    return dict(row._mapping) if row else None


async def add_to_site(
    conn: AsyncConnection, *, site_id: str, user_id: str, site_role: SiteRole
) -> None:
    await conn.execute(
        insert(site_users).values(
            site_id=site_id, user_id=user_id, site_role=str(site_role), created_at=utcnow()
        )
    )


async def get_on_site(conn: AsyncConnection, site_id: str, user_id: str) -> User | None:
    row = (await conn.execute(_on_site(site_id).where(users.c.id == user_id))).first()
    return User.from_row(row) if row else None


async def find_on_site(conn: AsyncConnection, site_id: str, name: str) -> User | None:
    row = (await conn.execute(_on_site(site_id).where(users.c.name_key == name.lower()))).first()
    return User.from_row(row) if row else None


async def is_member(conn: AsyncConnection, site_id: str, user_id: str) -> bool:
    row = await conn.execute(
        select(site_users.c.user_id).where(
            site_users.c.site_id == site_id, site_users.c.user_id == user_id
        )
    )
    return row.first() is not None


async def list_on_site(
    conn: AsyncConnection,
    site_id: str,
    *,
    name: str | None,
    site_role: str | None,
    offset: int,
    limit: int,
) -> tuple[list[User], int]:
    query = _on_site(site_id)
    if name is not None:
        query = query.where(users.c.name_key == name.lower())
    if site_role is not None:
        query = query.where(site_users.c.site_role == site_role)
    total = (await conn.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    rows = await conn.execute(query.order_by(users.c.name_key).offset(offset).limit(limit))
    return [User.from_row(r) for r in rows], int(total)


async def set_site_role(
    conn: AsyncConnection, site_id: str, user_id: str, site_role: SiteRole
) -> None:
    await conn.execute(
        update(site_users)
        .where(site_users.c.site_id == site_id, site_users.c.user_id == user_id)
        .values(site_role=str(site_role))
    )


async def set_identity(conn: AsyncConnection, user_id: str, **values: object) -> None:
    if "name" in values:
        values["name_key"] = str(values["name"]).lower()
    if not values:
        return
    try:
        async with conn.begin_nested():
            await conn.execute(update(users).where(users.c.id == user_id).values(values))
    except IntegrityError as exc:
        raise UserConflict(f"A user named '{values.get('name')}' already exists.") from exc


async def touch_login(conn: AsyncConnection, site_id: str, user_id: str, moment: datetime) -> None:
    """Record a sign-in: on the site (what its admins see) and server-wide."""
    await conn.execute(update(users).where(users.c.id == user_id).values(last_login=moment))
    await conn.execute(
        update(site_users)
        .where(site_users.c.site_id == site_id, site_users.c.user_id == user_id)
        .values(last_login=moment)
    )


async def remove_from_site(conn: AsyncConnection, site_id: str, user_id: str) -> bool:
    result = await conn.execute(
        delete(site_users).where(site_users.c.site_id == site_id, site_users.c.user_id == user_id)
    )
    return result.rowcount > 0


async def site_count(conn: AsyncConnection, user_id: str) -> int:
    return int(
        (
            await conn.execute(
                select(func.count()).select_from(site_users).where(site_users.c.user_id == user_id)
            )
        ).scalar_one()
    )


async def remove_identity(conn: AsyncConnection, user_id: str) -> None:
    await conn.execute(delete(users).where(users.c.id == user_id))


async def any_exist(conn: AsyncConnection) -> bool:
    return (await conn.execute(select(users.c.id).limit(1))).first() is not None


async def server_admin_ids(conn: AsyncConnection) -> list[str]:
    rows = await conn.execute(select(users.c.id).where(users.c.is_server_admin.is_(True)))
    return [r.id for r in rows]


async def site_ids_of(conn: AsyncConnection, user_id: str) -> list[str]:
    rows = await conn.execute(select(site_users.c.site_id).where(site_users.c.user_id == user_id))
    return [r.site_id for r in rows]


async def on_other_sites(conn: AsyncConnection, site_id: str, user_ids: list[str]) -> set[str]:
    """Which of ``user_ids`` also belong to a site other than ``site_id``."""
    if not user_ids:
        return set()
    rows = await conn.execute(
        select(site_users.c.user_id)
        .where(site_users.c.user_id.in_(user_ids), site_users.c.site_id != site_id)
        .distinct()
    )
    return {r.user_id for r in rows}


#: The role a user is shown with on a site (a server administrator is one everywhere).
_SHOWN_ROLE = case(
    (users.c.is_server_admin.is_(True), SiteRole.SERVER_ADMINISTRATOR.value),
    else_=site_users.c.site_role,
)

#: Get Users on Site: Tableau's user fields. Names compare without case, as sign-in does.
USER_FIELDS: listing.Catalog = {
    "name": Field(Kind.TEXT, EQ_IN | {"cieq"}, users.c.name_key, fold_case=True),
    "siteRole": Field(Kind.TEXT, EQ_IN, _SHOWN_ROLE),
    "lastLogin": Field(Kind.DATE, RANGE, site_users.c.last_login),
    "friendlyName": Field(Kind.TEXT, EQ_IN, users.c.full_name, fold_case=True),
    "luid": Field(Kind.TEXT, EQ_IN, users.c.id),
    # Every tabhooks user is a local user (no Active Directory domains).
    "domainName": Field(Kind.TEXT, EQ_IN, listing.constant("local"), fold_case=True),
    "isLocal": Field(Kind.BOOL, EQ, listing.constant(True)),
}


async def search(
    conn: AsyncConnection, site_id: str, query: listing.Listing
) -> tuple[list[User], int]:
    """One page of the site's users under Tableau's filters and sort (by name unless asked)."""
    rows, total = await listing.page(
        conn,
        _on_site(site_id),
        USER_FIELDS,
        query,
        default=(listing.Order("name"),),
        tiebreak=users.c.id,
    )
    return [User.from_row(r) for r in rows], total
