"""Where the keys that seal stored secrets come from (see :mod:`tabhooks.store.crypto`).

``TABHOOKS_SECRET_KEY`` holds one or more Fernet keys, comma-separated, newest first. Without
it the keys are read from a key file: ``TABHOOKS_SECRET_KEY_FILE``, or on SQLite the file
beside the database (``tabhooks.db`` → ``tabhooks.key``). SQLite is the zero-set-up store, so
a missing key file is created there on first start, readable by its owner only. PostgreSQL
stores are shared by several processes that must all hold the same keys, so one of them
inventing a key would lock the others out: there a key is required.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import stat
from pathlib import Path
from typing import Protocol

from pydantic import SecretStr
from sqlalchemy.engine import make_url

from tabhooks.store.crypto import SecretBox, SecretKeyError, generate_key, install
from tabhooks.store.engine import driver_url

log = logging.getLogger(__name__)

#: The key file of an SQLite store is the database's path with this suffix.
KEY_FILE_SUFFIX = ".key"
_SEPARATORS = re.compile(r"[,\s]+")


class KeySettings(Protocol):
    """The settings the keys depend on (:class:`tabhooks.config.Settings` has them)."""

    @property
    def database_url(self) -> str: ...

    @property
    def secret_key(self) -> SecretStr | None: ...

    @property
    def secret_key_file(self) -> str | None: ...


def install_secret_box(settings: KeySettings) -> SecretBox:
    """Load the keys for ``settings`` and make them the ones this process seals with.

    Every entry command that opens the store calls this first.

    Raises:
        SecretKeyError: No usable key (one line for the operator, never showing a key).
    """
    box = load_secret_box(settings)
    install(box)
    return box


def load_secret_box(settings: KeySettings) -> SecretBox:
    """The keys for ``settings`` (see the module docstring for the order they are looked in).

    Raises:
        SecretKeyError: As for :func:`install_secret_box`.
    """
    configured = settings.secret_key.get_secret_value() if settings.secret_key else ""
    if configured.strip():
        return SecretBox(split_keys(configured), "TABHOOKS_SECRET_KEY")
    url = make_url(driver_url(settings.database_url))
    is_sqlite = url.get_backend_name() == "sqlite"
    if settings.secret_key_file:
        path: Path | None = Path(settings.secret_key_file).expanduser()
    else:
        path = default_key_file(settings.database_url)
    if path is None:
        if is_sqlite:  # an in-memory store: nothing outlives the process, nor need its key
            return SecretBox([generate_key()], "a key made for this in-memory store")
        raise SecretKeyError(
            "a PostgreSQL store needs TABHOOKS_SECRET_KEY (or TABHOOKS_SECRET_KEY_FILE), the "
            "same in every process, to seal stored secrets: `tabhooks admin generate-key` "
            "makes one"
        )
    if not path.exists():
        if not is_sqlite:
            raise SecretKeyError(
                f"TABHOOKS_SECRET_KEY_FILE {path} does not exist: create it with "
                f"`tabhooks admin generate-key > {path}` and give every process the same file"
            )
        _create_key_file(path)
    return SecretBox(read_key_file(path), f"key file {path}")


def split_keys(text: str) -> list[str]:
    """Keys separated by commas or white space, ``#`` comment lines ignored."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    return [key for key in _SEPARATORS.split("\n".join(lines)) if key]


def default_key_file(database_url: str) -> Path | None:
    """The key file beside an SQLite database file; ``None`` for other stores."""
    url = make_url(driver_url(database_url))
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in {"", ":memory:"}:
        return None
    if database.startswith("file:") or url.query.get("mode") == "memory":
        return None
    path = Path(database).expanduser()
    key_file = path.with_suffix(KEY_FILE_SUFFIX)
    return key_file if key_file != path else path.with_name(path.name + KEY_FILE_SUFFIX)


def read_key_file(path: Path) -> list[str]:
    """The keys in ``path``, newest first.

    Raises:
        SecretKeyError: The file cannot be read or holds no key.
    """
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not ASCII text"
        raise SecretKeyError(f"cannot read the key file {path}: {reason}") from None
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning(
            "action=key_file_mode file=%s mode=%o: others than its owner may read it; chmod 600 it",
            path,
            mode,
        )
    keys = split_keys(text)
    if not keys:
        raise SecretKeyError(f"the key file {path} holds no key")
    return keys


def _create_key_file(path: Path) -> None:
    """Write a new key to ``path``, mode 0600, unless another process just did.

    The key is written to a private temporary file and linked into place, so a process
    starting at the same moment reads either no file or a whole key, and the first link wins.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(descriptor, 0o600)  # whatever the umask or a stale temporary file left
        os.write(descriptor, (generate_key() + "\n").encode("ascii"))
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    try:
        os.link(temporary, path)
    except FileExistsError:
        return
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    log.info(
        "action=key_file_created file=%s: stored secrets are sealed with the key in it; "
        "back it up with the database (one is useless without the other)",
        path,
    )
