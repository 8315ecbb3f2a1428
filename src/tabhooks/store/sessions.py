"""Named statements over ``sessions`` and ``personal_access_tokens``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tabhooks.models import Session
from tabhooks.store.tables import personal_access_tokens, sessions, users, utcnow


async def open_session(
    conn: AsyncConnection,
    *,
    token_hash: str,
    user_id: str,
    site_id: str,
    expires_at: datetime,
    pat_id: str | None = None,
) -> Session:
    row = {
        "token_hash": token_hash,
        "user_id": user_id,
        "site_id": site_id,
        "created_at": utcnow(),
        "expires_at": expires_at,
        "pat_id": pat_id,
    }
    await conn.execute(insert(sessions).values(row))
    return Session.from_row(row)


async def find_session(conn: AsyncConnection, token_hash: str) -> Session | None:
    row = (await conn.execute(select(sessions).where(sessions.c.token_hash == token_hash))).first()
    return Session.from_row(row) if row else None


async def close_session(conn: AsyncConnection, token_hash: str) -> bool:
    result = await conn.execute(delete(sessions).where(sessions.c.token_hash == token_hash))
    return result.rowcount > 0


async def pat_of_session(conn: AsyncConnection, token_hash: str) -> str | None:
    """The personal access token a session signed in with, if any."""
    row = (
        await conn.execute(select(sessions.c.pat_id).where(sessions.c.token_hash == token_hash))
    ).first()
    return row.pat_id if row else None


async def close_user_sessions(
    conn: AsyncConnection,
    user_id: str,
    *,
    site_id: str | None = None,
    keep_token_hash: str | None = None,
) -> int:
    """End a user's sessions (on one site, or all), except ``keep_token_hash``'s."""
    query = delete(sessions).where(sessions.c.user_id == user_id)
    if site_id is not None:
        query = query.where(sessions.c.site_id == site_id)
    if keep_token_hash is not None:
        query = query.where(sessions.c.token_hash != keep_token_hash)
    return (await conn.execute(query)).rowcount


async def close_site_sessions(
    conn: AsyncConnection, site_id: str, *, except_user_ids: list[str]
) -> int:
    """End every session on a site but those of ``except_user_ids`` (a suspended site)."""
    query = delete(sessions).where(sessions.c.site_id == site_id)
    if except_user_ids:
        query = query.where(sessions.c.user_id.not_in(except_user_ids))
    return (await conn.execute(query)).rowcount


async def close_pat_sessions(conn: AsyncConnection, pat_id: str) -> int:
    return (await conn.execute(delete(sessions).where(sessions.c.pat_id == pat_id))).rowcount


async def purge_expired(conn: AsyncConnection, now: datetime) -> int:
    result = await conn.execute(delete(sessions).where(sessions.c.expires_at <= now))
    return result.rowcount


async def create_pat(
    conn: AsyncConnection,
    *,
    user_id: str,
    name: str,
    secret_hash: str,
    expires_at: datetime | None,
) -> str:
    pat_id = str(uuid.uuid4())
    await conn.execute(
        insert(personal_access_tokens).values(
            id=pat_id,
            user_id=user_id,
            name=name,
            secret_hash=secret_hash,
            created_at=utcnow(),
            expires_at=expires_at,
        )
    )
    return pat_id


async def pats_named(conn: AsyncConnection, name: str) -> list[dict[str, object]]:
    rows = await conn.execute(
        select(personal_access_tokens).where(personal_access_tokens.c.name == name)
    )
    return [dict(r._mapping) for r in rows]


async def pat_of_user(conn: AsyncConnection, user_id: str, name: str) -> dict[str, object] | None:
    row = (
        await conn.execute(
            select(personal_access_tokens).where(
                personal_access_tokens.c.user_id == user_id, personal_access_tokens.c.name == name
            )
        )
    ).first()
    return dict(row._mapping) if row else None


async def pat_exists(conn: AsyncConnection, pat_id: str) -> bool:
    row = await conn.execute(
        select(personal_access_tokens.c.id).where(personal_access_tokens.c.id == pat_id)
    )
    return row.first() is not None


@dataclass(frozen=True, slots=True)
class PatInfo:
    """What may be shown about a personal access token: never its secret or hash."""

    name: str
    user_id: str
    user_name: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None


async def list_pats(conn: AsyncConnection, user_id: str | None = None) -> list[PatInfo]:
    """Tokens of one user, or of everyone, by user then token name."""
    pat = personal_access_tokens
    query = select(
        pat.c.name,
        pat.c.user_id,
        users.c.name.label("user_name"),
        pat.c.created_at,
        pat.c.expires_at,
        pat.c.last_used_at,
    ).join(users, users.c.id == pat.c.user_id)
    if user_id is not None:
        query = query.where(pat.c.user_id == user_id)
    rows = await conn.execute(query.order_by(users.c.name_key, pat.c.name))
    return [PatInfo(**r._mapping) for r in rows]


async def touch_pat(conn: AsyncConnection, pat_id: str, moment: datetime) -> None:
    await conn.execute(
        update(personal_access_tokens)
        .where(personal_access_tokens.c.id == pat_id)
        .values(last_used_at=moment)
    )


async def remove_pat(conn: AsyncConnection, pat_id: str) -> None:
    await conn.execute(delete(personal_access_tokens).where(personal_access_tokens.c.id == pat_id))
