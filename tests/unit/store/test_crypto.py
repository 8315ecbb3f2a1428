"""The secret box: sealing, opening, key rotation, and what its errors say (never a key)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Column, MetaData, String, Table, create_engine, insert, select, text
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.pool import StaticPool

from tabhooks.store import crypto
from tabhooks.store.crypto import SEALED_PREFIX, SealedText, SecretBox, SecretKeyError

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
def box() -> Iterator[SecretBox]:
    """A box installed for the process, as an entry command installs one (whatever was
    installed before is put back)."""
    before = crypto.current()
    made = SecretBox([crypto.generate_key()], "a test key")
    crypto.install(made)
    yield made
    crypto.install(before)


def test_sealed_values_are_tagged_unique_and_open_again() -> None:
    box = SecretBox([crypto.generate_key()])
    first, second = box.seal(SECRET), box.seal(SECRET)
    assert first.startswith(SEALED_PREFIX) and crypto.is_sealed(first)
    assert SECRET not in first
    assert first != second  # a fresh IV per value: equal secrets are not recognisable
    assert box.open(first) == box.open(second) == SECRET
    assert box.reveal(first) == SECRET
    assert box.reveal("in clear, from before encryption") == "in clear, from before encryption"


def test_another_key_cannot_open_and_the_error_shows_no_key() -> None:
    key, other = crypto.generate_key(), crypto.generate_key()
    sealed = SecretBox([key]).seal(SECRET)
    with pytest.raises(SecretKeyError) as failure:
        SecretBox([other], "TABHOOKS_SECRET_KEY").open(sealed)
    message = str(failure.value)
    assert "TABHOOKS_SECRET_KEY" in message and "another key" in message
    assert key not in message and other not in message and "\n" not in message


def test_a_tampered_value_does_not_open() -> None:
    box = SecretBox([crypto.generate_key()])
    sealed = box.seal(SECRET)
    flipped = sealed[:-5] + ("A" if sealed[-5] != "A" else "B") + sealed[-4:]
    with pytest.raises(SecretKeyError):
        box.open(flipped)
    with pytest.raises(SecretKeyError):
        box.open(SECRET)  # not sealed at all


def test_rotation_first_key_seals_every_key_opens() -> None:
    old, new = crypto.generate_key(), crypto.generate_key()
    under_old = SecretBox([old]).seal(SECRET)
    both = SecretBox([new, old])
    assert both.open(under_old) == SECRET
    assert not both.sealed_with_newest(under_old)
    resealed = both.reseal(under_old)
    assert both.sealed_with_newest(resealed)
    assert SecretBox([new]).open(resealed) == SECRET
    with pytest.raises(SecretKeyError):
        SecretBox([old]).open(resealed)
    assert both.sealed_with_newest(both.seal("x"))
    with pytest.raises(SecretKeyError):
        SecretBox([crypto.generate_key()]).reseal(under_old)


@pytest.mark.parametrize(
    "keys", [[], ["not-a-key"], [Fernet.generate_key().decode(), "short"], ["é" * 44]]
)
def test_malformed_keys_are_refused_without_echoing_them(keys: list[str]) -> None:
    with pytest.raises(SecretKeyError) as failure:
        SecretBox(keys, "TABHOOKS_SECRET_KEY")
    message = str(failure.value)
    assert message.startswith("TABHOOKS_SECRET_KEY")
    assert all(key not in message for key in keys if key)


def test_repr_names_the_source_not_the_key() -> None:
    key = crypto.generate_key()
    assert key not in repr(SecretBox([key], "key file /srv/tabhooks.key"))


class CountingDecrypts:
    """A box's keys, counting decryptions (cryptography 51's MultiFernet is a Rust object
    whose methods cannot be replaced on the instance)."""

    def __init__(self, keys: Any) -> None:
        self.keys = keys
        self.calls: list[bytes] = []

    def decrypt(self, token: bytes) -> bytes:
        self.calls.append(token)
        decrypted: bytes = self.keys.decrypt(token)
        return decrypted

    def __getattr__(self, name: str) -> Any:
        return getattr(self.keys, name)


def test_open_is_cached_per_ciphertext() -> None:
    box = SecretBox([crypto.generate_key()])
    sealed = box.seal(SECRET)
    box.open(sealed)
    counting = CountingDecrypts(box._all)
    box._all = counting  # type: ignore[assignment]
    for _ in range(100):
        assert box.open(sealed) == SECRET
    assert counting.calls == []
    assert box.open(box.seal(SECRET)) == SECRET and len(counting.calls) == 1


def test_no_installed_box_means_no_secret_is_written(box: SecretBox) -> None:
    crypto.install(None)
    with pytest.raises(SecretKeyError, match="no secret key is loaded"):
        crypto.installed()
    with pytest.raises(SecretKeyError, match="no secret key is loaded"):
        SealedText().process_bind_param(SECRET, sqlite_dialect())


def test_sealed_column_seals_on_write_and_opens_on_read(box: SecretBox) -> None:
    table = Table(
        "t", MetaData(), Column("id", String, primary_key=True), Column("s", SealedText())
    )
    engine = create_engine("sqlite://", poolclass=StaticPool)
    table.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(table), [{"id": "a", "s": SECRET}, {"id": "b", "s": None}])
        conn.execute(text("INSERT INTO t VALUES ('c', 'written before encryption')"))
        raw = dict(conn.execute(text("SELECT id, s FROM t")).all())
        read = dict(conn.execute(select(table.c.id, table.c.s)).all())
    assert raw["a"].startswith(SEALED_PREFIX) and SECRET not in raw["a"] and raw["b"] is None
    assert read == {"a": SECRET, "b": None, "c": "written before encryption"}
