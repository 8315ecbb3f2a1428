"""Named statements over ``sessions`` and ``personal_access_tokens``."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tabhooks.models import Session
from tabhooks.store.tables import personal_access_tokens, sessions, utcnow


async def open_session(
    conn: AsyncConnection, *, token_hash: str, user_id: str, site_id: str, expires_at: datetime
) -> Session:
    row = {
        "token_hash": token_hash,
        "user_id": user_id,
        "site_id": site_id,
        "created_at": utcnow(),
        "expires_at": expires_at,
    }
    await conn.execute(insert(sessions).values(row))
    return Session.from_row(row)


async def find_session(conn: AsyncConnection, token_hash: str) -> Session | None:
    row = (await conn.execute(select(sessions).where(sessions.c.token_hash == token_hash))).first()
    return Session.from_row(row) if row else None


async def close_session(conn: AsyncConnection, token_hash: str) -> bool:
    result = await conn.execute(delete(sessions).where(sessions.c.token_hash == token_hash))
    return result.rowcount > 0


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


async def touch_pat(conn: AsyncConnection, pat_id: str, moment: datetime) -> None:
    await conn.execute(
        update(personal_access_tokens)
        .where(personal_access_tokens.c.id == pat_id)
        .values(last_used_at=moment)
    )


async def remove_pat(conn: AsyncConnection, pat_id: str) -> None:
    await conn.execute(delete(personal_access_tokens).where(personal_access_tokens.c.id == pat_id))
