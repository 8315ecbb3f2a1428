"""A migrated, bootstrapped store on each backend, for tests that drive the store directly."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tabhooks.config import Settings
from tabhooks.services.bootstrap import bootstrap
from tabhooks.store import Store, crypto, migrate, open_store
from tabhooks.store import sites as sites_store
from tabhooks.store import users as users_store
from tests.conftest import database_url_for


@pytest.fixture(autouse=True, scope="session")
def _secret_box() -> Iterator[None]:
    """Stores opened in the test process seal secrets with a throwaway key, as a server's do
    with theirs (tabhooks.store.keys)."""
    crypto.install(crypto.SecretBox([crypto.generate_key()], "a test key"))
    yield
    crypto.install(None)


@dataclass(frozen=True)
class Seeded:
    """The store, its default site and the bootstrap administrator (``admin`` / ``pw``)."""

    store: Store
    site_id: str
    admin_id: str
    #: The database URL the store was opened on (for opening more stores on it).
    url: str


@pytest.fixture
async def seeded(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Seeded]:
    url = database_url_for(backend, request, tmp_path)
    store = open_store(url)
    try:
        await migrate(store)
        await bootstrap(store, Settings(admin_password="pw"))
        async with store.read() as conn:
            site = await sites_store.get_by_content_url(conn, "")
            admin = await users_store.find_identity(conn, "admin")
        assert site is not None and admin is not None
        yield Seeded(store, site.id, str(admin["id"]), url)
    finally:
        await store.dispose()
