"""Fresh databases for each test server: a SQLite file, or a new PostgreSQL database."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

POSTGRES_ENV = "TABHOOKS_TEST_POSTGRES_URL"


def postgres_admin_url() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


def new_sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / f'tabhooks-{uuid.uuid4().hex[:8]}.db'}"


def new_postgres_url(admin_url: str) -> str:
    """Create an empty database on the test cluster and return its URL."""
    name = f"tabhooks_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)
