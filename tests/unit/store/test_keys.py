"""Where the keys come from: TABHOOKS_SECRET_KEY, a key file, or one made beside SQLite."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tabhooks.config import Settings
from tabhooks.store import crypto
from tabhooks.store.crypto import SecretKeyError
from tabhooks.store.keys import default_key_file, load_secret_box, split_keys

PG_URL = "postgresql://tabhooks@127.0.0.1/tabhooks"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_configured_keys_newest_first() -> None:
    new, old = crypto.generate_key(), crypto.generate_key()
    sealed_old = crypto.SecretBox([old]).seal("x")
    box = load_secret_box(Settings(database_url=PG_URL, secret_key=f" {new} , {old} "))
    assert box.key_count == 2 and box.source == "TABHOOKS_SECRET_KEY"
    assert box.open(sealed_old) == "x" and crypto.SecretBox([new]).open(box.seal("y")) == "y"


def test_settings_never_show_the_key() -> None:
    key = crypto.generate_key()
    settings = Settings(secret_key=key)
    assert key not in repr(settings) and key not in str(settings.model_dump())


def test_split_keys_takes_commas_lines_and_comments() -> None:
    assert split_keys("a,b\n# retired:\n  c \n\n# d\n") == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///tabhooks.db", "tabhooks.key"),
        ("sqlite:////srv/tabhooks.db", "/srv/tabhooks.key"),
        ("sqlite:////srv/data/store", "/srv/data/store.key"),
        ("sqlite:////srv/data/odd.key", "/srv/data/odd.key.key"),
        ("sqlite+aiosqlite:////srv/x.sqlite3", "/srv/x.key"),
    ],
)
def test_key_file_sits_beside_the_sqlite_database(url: str, expected: str) -> None:
    assert default_key_file(url) == Path(expected)


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", PG_URL])
def test_no_default_key_file_without_a_database_file(url: str) -> None:
    assert default_key_file(url) is None


def test_sqlite_makes_a_private_key_file_once_and_reuses_it(tmp_path: Path) -> None:
    database = tmp_path / "tabhooks.db"
    settings = Settings(database_url=f"sqlite:///{database}")
    previous = os.umask(0o022)
    try:
        first = load_secret_box(settings)
    finally:
        os.umask(previous)
    key_file = tmp_path / "tabhooks.key"
    assert _mode(key_file) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["tabhooks.key"]  # no temporary left over
    sealed = first.seal("kept across restarts")
    assert load_secret_box(settings).open(sealed) == "kept across restarts"


def test_key_file_setting_points_elsewhere(tmp_path: Path) -> None:
    key_file = tmp_path / "keys" / "tabhooks.keys"
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'store.db'}", secret_key_file=str(key_file)
    )
    box = load_secret_box(settings)
    assert box.source == f"key file {key_file}" and _mode(key_file) == 0o600
    assert not (tmp_path / "store.key").exists()
    new = crypto.generate_key()
    key_file.write_text(f"{new}\n{key_file.read_text()}")  # rotation: a new key on top
    rotated = load_secret_box(settings)
    assert rotated.key_count == 2 and rotated.open(box.seal("s")) == "s"
    assert crypto.SecretBox([new]).open(rotated.seal("t")) == "t"


def test_postgres_refuses_to_guess_a_key(tmp_path: Path) -> None:
    with pytest.raises(SecretKeyError, match="PostgreSQL store needs TABHOOKS_SECRET_KEY"):
        load_secret_box(Settings(database_url=PG_URL))
    missing = tmp_path / "absent.key"
    with pytest.raises(SecretKeyError, match="does not exist"):
        load_secret_box(Settings(database_url=PG_URL, secret_key_file=str(missing)))
    assert not missing.exists()
    missing.write_text(crypto.generate_key())
    assert load_secret_box(Settings(database_url=PG_URL, secret_key_file=str(missing)))


def test_unreadable_or_empty_key_files_are_clear_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.key"
    empty.write_text("# nothing here\n")
    with pytest.raises(SecretKeyError, match="holds no key"):
        load_secret_box(Settings(database_url=PG_URL, secret_key_file=str(empty)))
    bad = tmp_path / "bad.key"
    bad.write_text("this-is-not-a-fernet-key\n")
    with pytest.raises(SecretKeyError, match=r"key 1 of 1 is not a Fernet key") as failure:
        load_secret_box(Settings(database_url=PG_URL, secret_key_file=str(bad)))
    assert "this-is-not-a-fernet-key" not in str(failure.value)


def test_in_memory_sqlite_gets_a_key_of_its_own() -> None:
    assert load_secret_box(Settings(database_url="sqlite://")).key_count == 1
