"""Profiles are private files that never hold a secret, and expired sessions renew or explain."""

from __future__ import annotations

import stat
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer

from tabhooks.tableau import profiles
from tabhooks.tableau.client import Credentials
from tabhooks.tableau.profiles import ProfileError


@pytest.fixture(autouse=True)
def _config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(profiles.CONFIG_DIR_ENV, str(tmp_path / "cfg"))


def _profile(**changes: object) -> profiles.Profile:
    base = profiles.Profile(
        name="p", server="http://127.0.0.1:9", site="", api_version="3.28", auth="pat",
        tabhooks=True, pat_name="ci", secret_env="MY_PAT",
    )  # fmt: skip
    credentials = Credentials("tok", "site", "user", datetime.now(UTC) + timedelta(hours=1))
    return replace(base.with_credentials(credentials), **changes)  # type: ignore[arg-type]


def test_save_is_private_and_round_trips() -> None:
    saved = _profile()
    profiles.save(saved)
    path = profiles.path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert profiles.load("p") == saved
    assert "secret" not in path.read_text().replace("secret_env", "")
    assert [p.name for p in profiles.listing()] == ["p"]


def test_unknown_profile_says_how_to_log_in() -> None:
    with pytest.raises(ProfileError, match="no profile named 'nope'") as caught:
        profiles.load("nope")
    assert caught.value.hint and "--profile nope" in caught.value.hint


def test_expired_session_without_its_secret_asks_to_log_in_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MY_PAT", raising=False)
    profiles.save(_profile(token_expires_at="2000-01-01T00:00:00+00:00"))
    with pytest.raises(ProfileError, match=r"\$MY_PAT is not set") as caught:
        profiles.open_client("p")
    assert caught.value.hint == (
        "Log in again: tabhooks login --server http://127.0.0.1:9 --pat-name ci --profile p"
    )


def test_commands_for_tabhooks_refuse_a_tableau_profile() -> None:
    profiles.save(_profile(tabhooks=False))
    with pytest.raises(ProfileError, match="needs a tabhooks server"):
        profiles.open_client("p", needs_tabhooks=True)
    profiles.open_client("p").close()  # webhook commands are fine


def test_profiles_stay_where_the_cli_always_kept_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Moving profiles out of the CLI did not move users' saved ``profiles.json``: the
    directory is still the one ``typer.get_app_dir`` gave the CLI before."""
    monkeypatch.delenv(profiles.CONFIG_DIR_ENV)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert profiles.config_dir() == Path(typer.get_app_dir("tabhooks"))
    if sys.platform.startswith("linux"):
        assert profiles.path() == tmp_path / "xdg" / "tabhooks" / "profiles.json"
