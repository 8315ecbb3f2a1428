"""Named connection profiles in the user's config directory, and sessions opened from them.

A profile remembers where to connect and how to sign in again — the server, the site, the API
version, the user or token *name*, and the *name* of the environment variable holding the
secret — plus the cached session token and when it is assumed to expire. Secrets themselves
are never written: a password or PAT secret typed at a prompt lives only in memory, so such a
session cannot be renewed, and the user is told to log in again when it runs out.

The file (``profiles.json``) is created with mode 0600 in a 0700 directory because it holds
live session tokens. ``TABHOOKS_CONFIG_DIR`` moves it (tests use a temporary directory).

The CLI writes profiles (``tabhooks login``) and opens sessions from them; the relay reads
them to enrich a route. A profile that cannot be used raises :class:`ProfileError` with a
hint, which the CLI prints and the relay logs; nothing here prints.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import click

from tabhooks.tableau.client import Credentials, TableauClient

CONFIG_DIR_ENV = "TABHOOKS_CONFIG_DIR"
FILE_NAME = "profiles.json"
DEFAULT_PROFILE = "default"
#: A token this close to its assumed expiry is renewed before use rather than after a 401.
RENEW_MARGIN = timedelta(minutes=2)

AuthMethod = Literal["password", "pat"]


class ProfileError(Exception):
    """A profile that cannot be used, and what to do about it (``hint``, e.g. a login command).

    Args:
        message: What is wrong, naming the profile (and the file, where that helps the user).
        hint: The next step to suggest, or ``None``.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True, slots=True)
class Profile:
    """One named connection. ``secret_env`` is the *name* of a variable, never its value."""

    name: str
    server: str
    site: str
    api_version: str
    auth: AuthMethod
    tabhooks: bool
    username: str | None = None
    pat_name: str | None = None
    secret_env: str | None = None
    token: str | None = None
    token_expires_at: str | None = None
    site_id: str | None = None
    user_id: str | None = None

    @property
    def expires_at(self) -> datetime | None:
        return datetime.fromisoformat(self.token_expires_at) if self.token_expires_at else None

    def with_credentials(self, credentials: Credentials | None) -> Profile:
        if credentials is None:
            return replace(self, token=None, token_expires_at=None)
        return replace(
            self,
            token=credentials.token,
            token_expires_at=credentials.expires_at.isoformat(),
            site_id=credentials.site_id,
            user_id=credentials.user_id,
        )

    def login_command(self) -> str:
        """The command that signs this profile in again, for error hints."""
        who = f"--pat-name {self.pat_name}" if self.auth == "pat" else f"--username {self.username}"
        profile = "" if self.name == DEFAULT_PROFILE else f" --profile {self.name}"
        site = f" --site {self.site}" if self.site else ""
        return f"tabhooks login --server {self.server}{site} {who}{profile}"


def config_dir() -> Path:
    """``TABHOOKS_CONFIG_DIR``, else the user's config directory for tabhooks.

    That is click's ``get_app_dir`` — the function Typer's ``get_app_dir`` copies, which the
    CLI used when it kept profiles itself — so profiles saved by earlier versions are found
    where they are (``~/.config/tabhooks`` on Linux, honouring ``XDG_CONFIG_HOME``).
    """
    override = os.environ.get(CONFIG_DIR_ENV)
    return Path(override) if override else Path(click.get_app_dir("tabhooks"))


def path() -> Path:
    return config_dir() / FILE_NAME


def _read_all() -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(path().read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ProfileError(
            f"cannot read {path()}: {exc}", hint="Delete it and log in again."
        ) from exc
    profiles = data.get("profiles", {}) if isinstance(data, dict) else {}
    return profiles if isinstance(profiles, dict) else {}


def _write_all(profiles: dict[str, dict[str, Any]]) -> None:
    """Atomically replace the file; it is 0600 from its first byte."""
    directory = config_dir()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = directory / f".{FILE_NAME}.{os.getpid()}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"version": 1, "profiles": profiles}, handle, indent=2, sort_keys=True)
    os.replace(temporary, path())


def load(name: str) -> Profile:
    raw = _read_all().get(name)
    if raw is None:
        raise ProfileError(
            f"no profile named '{name}' in {path()}",
            hint="Log in first: tabhooks login --server URL (--username U | --pat-name N)"
            + ("" if name == DEFAULT_PROFILE else f" --profile {name}"),
        )
    fields = {k: v for k, v in raw.items() if k in Profile.__dataclass_fields__}
    return Profile(**{**fields, "name": name})


def save(profile: Profile) -> None:
    profiles = _read_all()
    profiles[profile.name] = {k: v for k, v in asdict(profile).items() if k != "name"}
    _write_all(profiles)


def remove(name: str) -> bool:
    profiles = _read_all()
    if profiles.pop(name, None) is None:
        return False
    _write_all(profiles)
    return True


def listing() -> list[Profile]:
    return [load(name) for name in sorted(_read_all())]


def sign_in(client: TableauClient, profile: Profile, secret: str) -> Credentials:
    if profile.auth == "pat":
        return client.sign_in(profile.site, pat_name=profile.pat_name, pat_secret=secret)
    return client.sign_in(profile.site, username=profile.username, password=secret)


def _renew(client: TableauClient, profile: Profile) -> Credentials:
    """Sign in again with the secret from the profile's environment variable, and save."""
    secret = os.environ.get(profile.secret_env) if profile.secret_env else None
    if not secret:
        where = (
            f"${profile.secret_env} is not set"
            if profile.secret_env
            else "the secret was typed at a prompt and is not stored"
        )
        raise ProfileError(
            f"the session of profile '{profile.name}' has expired and cannot be renewed ({where})",
            hint=f"Log in again: {profile.login_command()}",
        )
    credentials = sign_in(client, profile, secret)
    save(profile.with_credentials(credentials))
    return credentials


def open_client(name: str, *, needs_tabhooks: bool = False) -> TableauClient:
    """A signed-in client for profile ``name``, renewing its token when it has expired.

    Args:
        needs_tabhooks: Refuse early, with a clear message, when the command uses tabhooks'
            extensions and the profile points at Tableau Cloud or Server.
    """
    profile = load(name)
    if needs_tabhooks and not profile.tabhooks:
        raise ProfileError(
            f"this command needs a tabhooks server; profile '{name}' is {profile.server}, "
            "which does not offer tabhooks' extensions (delivery log, bins, events)",
            hint="Webhook management (tabhooks webhooks ...) works on any Tableau site.",
        )
    if profile.token is None:
        raise ProfileError(
            f"profile '{name}' is logged out", hint=f"Log in: {profile.login_command()}"
        )
    client = TableauClient(profile.server, profile.api_version)
    client.reauth = lambda: _renew(client, load(name))
    expires = profile.expires_at
    if expires is not None and expires - RENEW_MARGIN <= datetime.now(UTC):
        try:
            client.credentials = _renew(client, profile)
        except BaseException:
            client.close()
            raise
    else:
        client.credentials = Credentials(
            profile.token,
            profile.site_id or "",
            profile.user_id or "",
            expires or datetime.now(UTC),
        )
    return client
