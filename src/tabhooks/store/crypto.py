"""Secrets at rest: stored secrets are sealed with Fernet and opened when read.

A copied database file must reveal no secret: webhook and relay signing secrets, inbox bin
secrets, relay target URLs and headers (a Slack or Teams URL is itself a credential), the PAT
secret a relay route enriches with, and the passwords embedded in published connections.
Each such column is typed :class:`SealedText`, so every statement SQLAlchemy runs seals what it
writes and opens what it reads; nothing above the store sees a ciphertext.

A sealed value is :data:`SEALED_PREFIX` followed by a Fernet token (AES-128-CBC with an
HMAC-SHA256, a random IV per value). The prefix makes sealed values recognisable, so a store
written before encryption existed is sealed at start-up (:mod:`tabhooks.store.sealing`) and a
later format can get its own tag. Keys come from configuration (:mod:`tabhooks.store.keys`):
the first key seals, every key opens (``MultiFernet``), which is what makes rotation possible.

Opening is cached per ciphertext: the dispatcher reads a webhook's secret for every claim and
every emitting transaction, and a Fernet decryption (about 12 µs) would otherwise be paid per
delivery. Each value is sealed with its own IV, so a ciphertext stands for exactly one
plaintext and the cache can never answer for a changed secret.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

#: What every sealed value starts with: the format and its version.
SEALED_PREFIX = "sealed:v1:"
#: Ciphertexts whose plaintext is kept in memory; one per live secret is enough to make the
#: delivery path free of decryption (a thousand webhooks with two live secrets each fit).
OPEN_CACHE_SIZE = 8192


class SecretKeyError(Exception):
    """The secret keys are missing, malformed, or do not open what the store holds.

    The message is one line meant for the operator; it never contains a key.
    """


def generate_key() -> str:
    """A new random Fernet key (32 bytes, URL-safe base64), as ``TABHOOKS_SECRET_KEY`` takes."""
    return Fernet.generate_key().decode("ascii")


def is_sealed(value: str) -> bool:
    """Whether ``value`` is a sealed value rather than a secret stored in clear."""
    return value.startswith(SEALED_PREFIX)


class SecretBox:
    """Seals and opens stored secrets with an ordered set of Fernet keys.

    Args:
        keys: Fernet keys, newest first: the first seals, every one opens.
        source: Where the keys came from (``TABHOOKS_SECRET_KEY``, a key file's path), for
            error messages; never the keys themselves.

    Raises:
        SecretKeyError: No key was given, or one is not a Fernet key.
    """

    def __init__(self, keys: Sequence[str], source: str = "TABHOOKS_SECRET_KEY") -> None:
        if not keys:
            raise SecretKeyError(f"{source} holds no key")
        fernets: list[Fernet] = []
        for number, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key.strip().encode("ascii")))
            except (ValueError, UnicodeEncodeError):
                raise SecretKeyError(
                    f"{source}: key {number} of {len(keys)} is not a Fernet key (32 random "
                    "bytes in URL-safe base64; `tabhooks admin generate-key` makes one)"
                ) from None
        self.source = source
        self.key_count = len(fernets)
        self._newest = fernets[0]
        self._all = MultiFernet(fernets)
        self._open_cached: Callable[[str], str] = functools.lru_cache(maxsize=OPEN_CACHE_SIZE)(
            self._open
        )

    def __repr__(self) -> str:
        return f"SecretBox({self.key_count} key(s) from {self.source})"

    def seal(self, plaintext: str) -> str:
        """``plaintext`` encrypted under the newest key, with :data:`SEALED_PREFIX`."""
        token = self._newest.encrypt(plaintext.encode("utf-8"))
        return SEALED_PREFIX + token.decode("ascii")

    def open(self, sealed: str) -> str:
        """The plaintext of a sealed value (cached per ciphertext).

        Raises:
            SecretKeyError: ``sealed`` is not a sealed value, or none of the keys opens it
                (it was sealed with a key that is no longer configured, or altered).
        """
        return self._open_cached(sealed)

    def reveal(self, stored: str) -> str:
        """A stored value as the application needs it: opened when sealed, else as stored.

        Values in clear are what a store written before encryption holds until the start-up
        step seals them (:func:`tabhooks.store.sealing.seal_stored_secrets`).
        """
        return self._open_cached(stored) if stored.startswith(SEALED_PREFIX) else stored

    def sealed_with_newest(self, sealed: str) -> bool:
        """Whether ``sealed`` is already under the newest key (rotation skips it then)."""
        try:
            self._newest.decrypt(_token(sealed))
        except InvalidToken:
            return False
        return True

    def reseal(self, sealed: str) -> str:
        """``sealed`` re-encrypted under the newest key (it must open with one of the keys).

        Raises:
            SecretKeyError: As for :meth:`open`.
        """
        try:
            return SEALED_PREFIX + self._all.rotate(_token(sealed)).decode("ascii")
        except InvalidToken:
            raise self._mismatch() from None

    def _open(self, sealed: str) -> str:
        try:
            return self._all.decrypt(_token(sealed)).decode("utf-8")
        except InvalidToken:
            raise self._mismatch() from None

    def _mismatch(self) -> SecretKeyError:
        return SecretKeyError(
            f"a stored secret does not open with the key(s) in {self.source}: it was sealed "
            "with another key (restore that key, or list it after the new one until "
            "`tabhooks admin rotate-key` has run)"
        )


def _token(sealed: str) -> bytes:
    if not sealed.startswith(SEALED_PREFIX):
        raise SecretKeyError("not a sealed value")
    return sealed[len(SEALED_PREFIX) :].encode("ascii")


# ----------------------------------------------------------------------------- the process's box

_installed: SecretBox | None = None


def install(box: SecretBox | None) -> None:
    """Make ``box`` the one every :class:`SealedText` column uses in this process.

    Each process works with one store and one key set, both from its settings; the column
    type has no other way to reach the keys (SQLAlchemy types see only the value and the
    dialect). ``None`` uninstalls.
    """
    global _installed
    _installed = box


def current() -> SecretBox | None:
    """The installed box, or ``None`` when this process loaded no keys."""
    return _installed


def installed() -> SecretBox:
    """The box installed by the entry command.

    Raises:
        SecretKeyError: None was installed: a secret would otherwise be written in clear.
    """
    box = _installed
    if box is None:
        raise SecretKeyError(
            "no secret key is loaded in this process (tabhooks.store.keys.install_secret_box)"
        )
    return box


class SealedText(TypeDecorator[str]):
    """Text sealed on the way in and opened on the way out (see the module docstring).

    Values in clear (written before encryption existed) are read as they are; start-up seals
    them. Comparing a sealed column with a value in SQL never matches (every seal has its own
    IV), so these columns are read, never searched.
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return installed().seal(value)

    def result_processor(self, dialect: Dialect, coltype: Any) -> Callable[[Any], Any] | None:
        """Opens each sealed value and passes values in clear through (see the class doc).

        Written out rather than through ``process_result_value``: it runs once per row read,
        the dispatcher's claims included, and the generic wrapper costs a call more.
        """
        impl_process = self.impl_instance.result_processor(dialect, coltype)

        def process(value: Any) -> Any:
            if impl_process is not None:
                value = impl_process(value)
            if value is None or not value.startswith(SEALED_PREFIX):
                return value
            return installed().open(value)

        return process
