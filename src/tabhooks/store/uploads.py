"""Named statements over chunked upload sessions (``fileUploads``).

A session lives a fixed time after it is started (``created_at``); the caller passes the
cut-off, so an expired session is never found and :func:`purge_expired` deletes it with its
chunks (the foreign key cascades).
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tabhooks.store.tables import upload_chunks, uploads, utcnow


def new_upload_id() -> str:
    """An id in the shape Tableau's schema gives (``[0-9]+:[0-9a-f]+-[0-9]+:[0-9]+``)."""
    first, second = secrets.randbelow(10**4), secrets.randbelow(10**4)
    return f"{secrets.randbelow(10**8)}:{secrets.token_hex(16)}-{first}:{second}"


async def create(conn: AsyncConnection, *, site_id: str, user_id: str) -> str:
    upload_id = new_upload_id()
    await conn.execute(
        insert(uploads).values(id=upload_id, site_id=site_id, user_id=user_id, created_at=utcnow())
    )
    return upload_id


async def owner(
    conn: AsyncConnection, upload_id: str, *, started_after: datetime
) -> tuple[str, str] | None:
    """``(site id, user id)`` of a session started after ``started_after``, else ``None``."""
    row = (
        await conn.execute(
            select(uploads.c.site_id, uploads.c.user_id).where(
                uploads.c.id == upload_id, uploads.c.created_at > started_after
            )
        )
    ).first()
    return (row.site_id, row.user_id) if row else None


async def purge_expired(conn: AsyncConnection, *, started_before: datetime) -> int:
    """Delete every session started at or before ``started_before``; returns how many."""
    result = await conn.execute(delete(uploads).where(uploads.c.created_at <= started_before))
    return result.rowcount or 0


async def usage(conn: AsyncConnection, user_id: str, *, started_after: datetime) -> tuple[int, int]:
    """``(open sessions, bytes they hold)`` of one user, for the per-user caps."""
    live = uploads.c.user_id == user_id, uploads.c.created_at > started_after
    sessions = (await conn.execute(select(func.count()).where(*live))).scalar_one()
    held = (
        await conn.execute(
            select(func.coalesce(func.sum(func.length(upload_chunks.c.data)), 0))
            .select_from(upload_chunks.join(uploads, upload_chunks.c.upload_id == uploads.c.id))
            .where(*live)
        )
    ).scalar_one()
    return int(sessions), int(held)


async def append(conn: AsyncConnection, upload_id: str, data: bytes) -> int:
    """Add a chunk; returns the session's total size so far."""
    number = (
        await conn.execute(
            select(func.count())
            .select_from(upload_chunks)
            .where(upload_chunks.c.upload_id == upload_id)
        )
    ).scalar_one()
    await conn.execute(insert(upload_chunks).values(upload_id=upload_id, number=number, data=data))
    return await size(conn, upload_id)


async def size(conn: AsyncConnection, upload_id: str) -> int:
    return int(
        (
            await conn.execute(
                select(func.coalesce(func.sum(func.length(upload_chunks.c.data)), 0)).where(
                    upload_chunks.c.upload_id == upload_id
                )
            )
        ).scalar_one()
    )


async def assemble(conn: AsyncConnection, upload_id: str) -> bytes:
    rows = await conn.execute(
        select(upload_chunks.c.data)
        .where(upload_chunks.c.upload_id == upload_id)
        .order_by(upload_chunks.c.number)
    )
    return b"".join(rows.scalars())


async def remove(conn: AsyncConnection, upload_id: str) -> None:
    await conn.execute(delete(uploads).where(uploads.c.id == upload_id))
