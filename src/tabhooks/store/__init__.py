"""The store: SQLAlchemy Core tables, migrations and the named statements over them."""

from __future__ import annotations

from tabhooks.store.engine import Store, driver_url, open_store
from tabhooks.store.migrate import migrate

__all__ = ["Store", "driver_url", "migrate", "open_store"]
