"""The passes over stored secrets: sealing what an earlier version stored in clear at start-up,
re-sealing under a new key, and refusing keys that do not open what is stored."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Text, insert, select, text, type_coerce, update

from tabhooks.config import Settings
from tabhooks.services.bootstrap import bootstrap
from tabhooks.store import crypto, migrate, open_store
from tabhooks.store import secrets as secrets_store
from tabhooks.store import sites as sites_store
from tabhooks.store import users as users_store
from tabhooks.store import webhooks as webhooks_store
from tabhooks.store.crypto import SecretBox, SecretKeyError
from tabhooks.store.sealing import SealCount, rotate_stored_secrets, seal_stored_secrets
from tabhooks.store.tables import utcnow_precise, webhook_secrets
from tests.integration.conftest import Seeded

SECRETS = (
    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
)


@pytest.fixture
def keys() -> Iterator[list[str]]:
    """Two keys, the first installed; the session's box is put back afterwards."""
    before = crypto.current()
    made = [crypto.generate_key(), crypto.generate_key()]
    crypto.install(SecretBox(made[:1], "the old key"))
    yield made
    crypto.install(before)


async def _webhook_with_secrets(seeded: Seeded) -> str:
    async with seeded.store.write() as conn:
        hook = await webhooks_store.create(
            conn,
            site_id=seeded.site_id,
            name="sealed",
            event="WorkbookCreated",
            url="https://example.com/hook",
            is_enabled=True,
            status_change_reason="",
            owner_id=seeded.admin_id,
        )
        for secret in SECRETS:
            await secrets_store.rotate(
                conn, hook.id, secret=secret, old_expires_at=utcnow_precise() + timedelta(days=1)
            )
    return hook.id


async def _raw(seeded: Seeded) -> list[str]:
    async with seeded.store.read() as conn:
        rows = await conn.execute(
            select(type_coerce(webhook_secrets.c.secret, Text)).order_by(
                webhook_secrets.c.created_at
            )
        )
        return [str(value) for (value,) in rows]


async def _live(seeded: Seeded, webhook_id: str) -> set[str]:
    async with seeded.store.read() as conn:
        return {str(row["secret"]) for row in await secrets_store.live(conn, webhook_id)}


async def test_secrets_in_clear_are_sealed_once(seeded: Seeded, keys: list[str]) -> None:
    webhook_id = await _webhook_with_secrets(seeded)
    async with seeded.store.write() as conn:  # what a store from before encryption holds
        for sealed, plain in zip(await _raw(seeded), SECRETS, strict=True):
            await conn.execute(
                update(webhook_secrets)
                .where(type_coerce(webhook_secrets.c.secret, Text) == sealed)
                .values(secret=type_coerce(plain, Text))
            )
    assert await _raw(seeded) == list(SECRETS)
    assert await _live(seeded, webhook_id) == set(SECRETS)  # still readable meanwhile

    assert await seal_stored_secrets(seeded.store) == SealCount(2, 0)
    raw = await _raw(seeded)
    assert all(crypto.is_sealed(value) and value not in SECRETS for value in raw)
    assert [SecretBox(keys[:1]).open(value) for value in raw] == list(SECRETS)
    assert await _live(seeded, webhook_id) == set(SECRETS)
    assert await seal_stored_secrets(seeded.store) == SealCount(0, 2)
    assert await _raw(seeded) == raw


async def test_rotation_reseals_under_the_newest_key(seeded: Seeded, keys: list[str]) -> None:
    new, old = keys[1], keys[0]
    webhook_id = await _webhook_with_secrets(seeded)
    crypto.install(SecretBox([new, old], "new, old"))
    assert await rotate_stored_secrets(seeded.store) == SealCount(2, 0)
    raw = await _raw(seeded)
    assert [SecretBox([new]).open(value) for value in raw] == list(SECRETS)
    for value in raw:
        with pytest.raises(SecretKeyError):
            SecretBox([old]).open(value)
    assert await rotate_stored_secrets(seeded.store) == SealCount(0, 2)  # nothing left to do
    crypto.install(SecretBox([new], "new only"))
    assert await _live(seeded, webhook_id) == set(SECRETS)


async def test_keys_that_open_nothing_are_refused_and_change_nothing(
    seeded: Seeded, keys: list[str]
) -> None:
    await _webhook_with_secrets(seeded)
    before = await _raw(seeded)
    crypto.install(SecretBox([keys[1]], "TABHOOKS_SECRET_KEY"))
    for run in (seal_stored_secrets, rotate_stored_secrets):
        with pytest.raises(SecretKeyError, match=r"^2 of 2 stored secrets do not open with"):
            await run(seeded.store)
    assert await _raw(seeded) == before


async def test_sqlite_keeps_no_copy_of_what_it_sealed(tmp_path: Path, keys: list[str]) -> None:
    """Sealed in place, the values in clear are overwritten in the file, not left in free
    space or in the write-ahead log (a copied file would otherwise still hold them)."""
    url = f"sqlite:///{tmp_path / 'upgraded.db'}"
    store = open_store(url)
    try:
        await migrate(store)
        await bootstrap(store, Settings(admin_password="pw"))
        async with store.read() as conn:
            site = await sites_store.get_by_content_url(conn, "")
            admin = await users_store.find_identity(conn, "admin")
        assert site is not None and admin is not None
        seeded = Seeded(store, site.id, str(admin["id"]), url)
        plain = [f"whsec_{number:04d}" + "Q" * 40 for number in range(60)]
        async with store.write() as conn:
            hook = await webhooks_store.create(
                conn,
                site_id=seeded.site_id,
                name="many",
                event="WorkbookCreated",
                url="https://example.com/hook",
                is_enabled=True,
                status_change_reason="",
                owner_id=seeded.admin_id,
            )
            for secret in plain:  # stored in clear, as before encryption
                await conn.execute(
                    insert(webhook_secrets).values(
                        id=f"whs_{secret[6:10]}",
                        webhook_id=hook.id,
                        secret=type_coerce(secret, Text),
                        created_at=utcnow_precise(),
                    )
                )
            # As SQLite builds without SQLITE_SECURE_DELETE (Debian's has it) leave it.
            await conn.execute(text("PRAGMA secure_delete=0"))
        store.truncate_wal()
        assert b"QQQQQQQQ" in (tmp_path / "upgraded.db").read_bytes()

        assert (await seal_stored_secrets(store)).changed == len(plain)
        files = [tmp_path / name for name in ("upgraded.db", "upgraded.db-wal")]
        raw = b"".join(path.read_bytes() for path in files if path.exists())
        assert b"QQQQQQQQ" not in raw
        async with store.write() as conn:  # the writer's own setting is left as it was
            assert (await conn.execute(text("PRAGMA secure_delete"))).scalar() == 0
    finally:
        await store.dispose()
