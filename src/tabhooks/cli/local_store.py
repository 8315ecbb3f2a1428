"""Finding the store an admin command works on, without ever creating one.

``tabhooks admin`` commands open the database straight from ``TABHOOKS_DATABASE_URL`` (default
``sqlite:///tabhooks.db``, *relative to the current folder*). Opening a SQLite URL creates the
file, and migrating creates the schema, so an admin command run from the wrong folder used to
make a fresh, empty store there and, say, print a token secret that works on no server. Only
``tabhooks serve`` (and ``worker``) create a store; admin commands first check that one is
there and otherwise stop, naming the database they looked for and how to point at the right
one.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from tabhooks.cli import output

if TYPE_CHECKING:
    from tabhooks.store import Store

#: The table Alembic keeps in every store tabhooks has migrated.
_MARKER_TABLE = "alembic_version"
_ENV = "TABHOOKS_DATABASE_URL"


class NoStore(Exception):
    """No tabhooks store at the configured URL; the message names what was looked for."""


def _where(database_url: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    origin = f"{_ENV}" if os.environ.get(_ENV) else f"the default {_ENV}"
    try:
        shown = make_url(database_url).render_as_string(hide_password=True)
    except ArgumentError:
        shown = "(not a database URL)"
    return f"{origin} = {shown}"


def _check_sqlite(database: str | None) -> None:
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        raise NoStore("an in-memory SQLite database holds no store")
    path = Path(database).expanduser().resolve()
    if not path.is_file():
        raise NoStore(f"no tabhooks store at {path}: the file does not exist")
    try:
        with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as conn:
            found = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (_MARKER_TABLE,)
            ).fetchone()
    except sqlite3.Error as exc:
        raise NoStore(f"{path} is not a readable SQLite database ({exc})") from exc
    if found is None:
        raise NoStore(f"{path} holds no tabhooks store (it was never migrated)")


def _check_server(database_url: str) -> None:
    from sqlalchemy import create_engine, inspect
    from sqlalchemy.exc import SQLAlchemyError

    from tabhooks.store import driver_url

    try:
        engine = create_engine(driver_url(database_url))
    except (ValueError, SQLAlchemyError) as exc:
        raise NoStore(f"cannot open the database: {exc}") from exc
    try:
        with engine.connect() as conn:
            present = inspect(conn).has_table(_MARKER_TABLE)
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        detail = " ".join(str(cause).split())  # drivers' messages span several lines
        raise NoStore(f"cannot open the database: {type(cause).__name__}: {detail}") from exc
    finally:
        engine.dispose()
    if not present:
        raise NoStore("the database holds no tabhooks store (it was never migrated)")


def check_existing(database_url: str) -> None:
    """Raise :class:`NoStore` unless ``database_url`` names a store tabhooks has migrated.

    Reads only: a SQLite file is opened read-only (never created), a server database is
    asked whether Alembic's version table exists.

    Args:
        database_url: The configured ``TABHOOKS_DATABASE_URL``.
    """
    # Imported here, as in _check_server: the rest of the CLI starts without SQLAlchemy.
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(database_url)
    except ArgumentError as exc:
        raise NoStore(f"'{database_url}' is not a database URL") from exc
    if parsed.get_backend_name() == "sqlite":
        _check_sqlite(parsed.database)
    else:
        _check_server(database_url)


def require_existing(database_url: str) -> None:
    """Stop the command (exit 1) with what was looked for, unless the store exists.

    Args:
        database_url: The configured ``TABHOOKS_DATABASE_URL``.
    """
    try:
        check_existing(database_url)
    except NoStore as missing:
        output.print_error(
            f"{missing} ({_where(database_url)}, current folder {Path.cwd()}).",
            hint=f"Run the command from the folder tabhooks serve runs in, or set {_ENV} to "
            "the server's database URL (e.g. sqlite:////srv/tabhooks/tabhooks.db). Admin "
            "commands never create a store; tabhooks serve does.",
        )
        raise typer.Exit(output.EXIT_ERROR) from None


def open_existing(database_url: str) -> Store:
    """:func:`~tabhooks.store.open_store`, after :func:`require_existing` found the store.

    The one call admin commands make instead of ``open_store(settings.database_url)``.
    """
    require_existing(database_url)
    from tabhooks.store import open_store

    return open_store(database_url)
