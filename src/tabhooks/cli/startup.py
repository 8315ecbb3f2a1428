"""Start-up errors the user caused, told in one line with what to try (exit 1).

A port already in use, a typo in ``TABHOOKS_DATABASE_URL``, a database folder that cannot be
written, a setting with a bad value: each is something the person starting ``tabhooks serve``
(or ``worker``, or an admin command) can fix, and each used to end in a 40-line traceback
whose last line hid the cause. These helpers catch exactly those failures where they happen
— reading settings, binding the socket, opening the store — and print one ``Error:`` line
naming the cause and the fix. Anything else still raises: a bug keeps its traceback.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from tabhooks.cli import output

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

    from tabhooks.config import Settings

#: Settings whose value is never repeated in an error: it may be (or hold) a secret.
_SECRET_WORDS = ("secret", "password", "key", "database_url", "token")


def fail(message: str) -> NoReturn:
    """Print ``Error: message`` (one line, on stderr) and exit 1."""
    output.print_error(message)
    raise typer.Exit(output.EXIT_ERROR)


def _setting_error(error: ErrorDetails, overrides: dict[str, object]) -> str:
    field = ".".join(str(part) for part in error["loc"])
    if field in overrides:
        name = f"--{field.replace('_', '-')}"
    else:
        name = f"TABHOOKS_{field.upper()}" if field else "the settings"
    shown = ""
    if field and not any(word in field for word in _SECRET_WORDS):
        value = str(error.get("input", ""))
        shown = f" (got {value[:60]!r})"
    return f"{name}: {error['msg']}{shown}"


def load_settings(**overrides: object) -> Settings:
    """The settings from the environment and ``overrides``; a bad value ends in one line."""
    from pydantic import ValidationError

    from tabhooks.config import Settings

    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(_setting_error(e, overrides) for e in exc.errors())
        fail(f"bad setting: {problems}. See docs/configuration.md.")


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except BaseException:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, or one line saying why not and what to try."""
    try:
        return _bind(host, port)
    except socket.gaierror as exc:
        fail(f"cannot listen on {host}: {exc.strerror}; try --host 127.0.0.1")
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            fail(
                f"port {port} on {host} is in use (another program, or another tabhooks, "
                "listens there); try another with --port, e.g. --port 0 for any free port"
            )
        if exc.errno == errno.EADDRNOTAVAIL:
            fail(f"cannot listen on {host}: not an address of this machine; try --host 127.0.0.1")
        if exc.errno == errno.EACCES:
            fail(
                f"not allowed to listen on port {port} (ports below 1024 need privileges); "
                "try --port 8000"
            )
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


def _shown_url(database_url: str) -> str:
    """The database URL without its password, for an error line."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(database_url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(not a database URL)"


def _one_line(value: Any) -> str:
    return " ".join(str(value).split())


@contextmanager
def store_errors(database_url: str) -> Iterator[None]:
    """Opening, creating or migrating the store: a cause the user can fix is one line.

    Args:
        database_url: The configured ``TABHOOKS_DATABASE_URL`` (named in the errors).
    """
    from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

    from tabhooks.store.crypto import SecretKeyError

    shown = _shown_url(database_url)
    try:
        yield
    except SecretKeyError as exc:
        fail(str(exc))
    except (ArgumentError, NoSuchModuleError) as exc:
        fail(
            f"TABHOOKS_DATABASE_URL is not a database URL tabhooks can open ({_one_line(exc)}); "
            "use sqlite:///path/tabhooks.db or postgresql://user:password@host/database"
        )
    except ValueError as exc:
        if "database URL" not in str(exc):
            raise
        fail(f"TABHOOKS_DATABASE_URL: {_one_line(exc)}")
    except DBAPIError as exc:
        cause = _one_line(exc.orig or exc)
        if shown.startswith("sqlite"):
            fail(
                f"cannot open the SQLite database {shown} ({cause}): its folder must exist and "
                "be writable by this user; set TABHOOKS_DATABASE_URL to another path"
            )
        fail(
            f"cannot open the database {shown} ({type(exc.orig or exc).__name__}: {cause}); "
            "check TABHOOKS_DATABASE_URL and that the database server is running"
        )
    except OSError as exc:
        where = exc.filename or shown
        fail(
            f"cannot write {where} ({exc.strerror or exc}): the database's folder must be a "
            "writable folder; set TABHOOKS_DATABASE_URL (or TABHOOKS_SECRET_KEY_FILE) to another "
            "path"
        )
