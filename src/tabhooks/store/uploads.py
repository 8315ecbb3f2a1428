"""Named statements over chunked upload sessions (``fileUploads``)."""

from __future__ import annotations

import secrets

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


async def owner(conn: AsyncConnection, upload_id: str) -> tuple[str, str] | None:
    row = (
        await conn.execute(
            select(uploads.c.site_id, uploads.c.user_id).where(uploads.c.id == upload_id)
        )
    ).first()
    return (row.site_id, row.user_id) if row else None


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
