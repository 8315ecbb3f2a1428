"""Upload session statements on each backend: expiry by start time, per-user usage, purge."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from tabhooks.store import uploads as uploads_store
from tabhooks.store.tables import upload_chunks, uploads, utcnow
from tests.integration.conftest import Seeded


async def test_usage_counts_live_sessions_and_their_bytes(seeded: Seeded) -> None:
    async with seeded.store.write() as conn:
        first = await uploads_store.create(conn, site_id=seeded.site_id, user_id=seeded.admin_id)
        second = await uploads_store.create(conn, site_id=seeded.site_id, user_id=seeded.admin_id)
        await uploads_store.append(conn, first, b"a" * 1000)
        await uploads_store.append(conn, first, b"b" * 500)
        assert await uploads_store.append(conn, second, b"c" * 250) == 250
        cutoff = utcnow() - timedelta(hours=1)
        assert await uploads_store.usage(conn, seeded.admin_id, started_after=cutoff) == (2, 1750)
        assert await uploads_store.usage(conn, "someone-else", started_after=cutoff) == (0, 0)
        assert await uploads_store.assemble(conn, first) == b"a" * 1000 + b"b" * 500


async def test_expired_session_is_not_found_and_purge_deletes_its_chunks(seeded: Seeded) -> None:
    async with seeded.store.write() as conn:
        old = await uploads_store.create(conn, site_id=seeded.site_id, user_id=seeded.admin_id)
        new = await uploads_store.create(conn, site_id=seeded.site_id, user_id=seeded.admin_id)
        await uploads_store.append(conn, old, b"x" * 100)
        await uploads_store.append(conn, new, b"y" * 10)
        await conn.execute(
            update(uploads)
            .where(uploads.c.id == old)
            .values(created_at=utcnow() - timedelta(hours=25))
        )
        cutoff = utcnow() - timedelta(hours=24)
        assert await uploads_store.owner(conn, old, started_after=cutoff) is None
        found = await uploads_store.owner(conn, new, started_after=cutoff)
        assert found == (seeded.site_id, seeded.admin_id)
        assert await uploads_store.usage(conn, seeded.admin_id, started_after=cutoff) == (1, 10)
        assert await uploads_store.purge_expired(conn, started_before=cutoff) == 1
        chunks = await conn.execute(
            select(upload_chunks.c.upload_id, func.count()).group_by(upload_chunks.c.upload_id)
        )
        assert dict(chunks.all()) == {new: 1}  # the expired session's chunks went with it
