"""Applying Alembic migrations at start-up, safely from many processes at once."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from tabhooks.store import crypto
from tabhooks.store.backend import backend_of
from tabhooks.store.engine import Store
from tabhooks.store.sealing import seal_stored_secrets

_MIGRATIONS = Path(__file__).with_name("migrations")
#: Arbitrary key for the PostgreSQL advisory lock that serialises concurrent migrations.
_MIGRATION_LOCK_KEY = 0x7AB400C5


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations, bound to ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")


async def migrate(store: Store) -> None:
    """Bring the schema up to date (a no-op when it already is); then, when this process has
    loaded the secret keys (servers and workers always do), seal any secret still stored in
    clear and check the keys open the rest (:func:`tabhooks.store.sealing.seal_stored_secrets`).

    Raises:
        SecretKeyError: Stored secrets do not open with the loaded keys.
    """
    async with store.write() as conn:
        # Processes starting together (an API and its workers) take turns; the later ones
        # then find the schema current.
        await backend_of(conn).serialise(conn, _MIGRATION_LOCK_KEY)
        await conn.run_sync(_upgrade)
    if crypto.current() is not None:
        await seal_stored_secrets(store)
