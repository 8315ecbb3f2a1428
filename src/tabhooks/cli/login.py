"""``tabhooks login`` and ``tabhooks logout``: named profiles for Tableau or tabhooks servers.

Login signs in with Tableau's standard ``auth/signin`` (password or personal access token),
discovers the REST API version from ``serverInfo`` and whether the server is tabhooks, and
saves a profile. Secrets come from an environment variable (whose *name* is saved, so the
session can be renewed when it expires), from stdin, or from a hidden prompt — never from a
command-line argument, where they would land in shell history and ``ps``.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlsplit

import typer

from tabhooks.cli import output
from tabhooks.cli.options import DEFAULT, JsonOpt, ProfileOpt, VerboseOpt
from tabhooks.tableau import profiles
from tabhooks.tableau.client import NS, Credentials, TableauApiError, TableauClient, version_tuple
from tabhooks.tableau.profiles import Profile


def _normalise(server: str, site: str | None) -> tuple[str, str]:
    """Accept what people paste: a trailing slash, or a browser URL with ``#/site/NAME``."""
    parts = urlsplit(server.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise typer.BadParameter(
            f"'{server}' is not an http(s) URL, e.g. https://10ax.online.tableau.com",
            param_hint="--server",
        )
    if site is None and parts.fragment.startswith("/site/"):
        site = parts.fragment.split("/")[2]
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}", site or ""


def _secret(env: str | None, use_stdin: bool, what: str, option: str) -> str:
    if env:
        value = os.environ.get(env)
        if not value:
            raise typer.BadParameter(
                f"the environment variable {env} is not set", param_hint=option
            )
        return value
    if use_stdin:
        value = sys.stdin.readline().rstrip("\r\n")
        if not value:
            raise typer.BadParameter(f"no {what} on stdin", param_hint="--password-stdin")
        return value
    if not sys.stdin.isatty():
        raise typer.BadParameter(
            f"no terminal to prompt for the {what}; pass {option} VAR", param_hint=option
        )
    return str(typer.prompt(what.capitalize(), hide_input=True))


def _user_name(client: TableauClient, fallback: str) -> str:
    """The signed-in user's name (sign-in answers only ids); the fallback if hidden."""
    user_id = client.credentials.user_id if client.credentials else ""
    try:
        found = client.rest("GET", f"/users/{user_id}")
    except TableauApiError:
        return fallback
    user = found.find("t:user", NS) if found is not None else None
    return user.get("name", fallback) if user is not None else fallback


def login(
    server: Annotated[
        str,
        typer.Option(
            "--server",
            envvar="TABHOOKS_SERVER",
            help="Server URL, e.g. https://10ax.online.tableau.com.",
        ),
    ],
    site: Annotated[
        str | None,
        typer.Option(
            "--site",
            envvar="TABHOOKS_SITE",
            help="Site content URL (as in /#/site/NAME); empty for the Default site.",
        ),
    ] = None,
    pat_name: Annotated[
        str | None,
        typer.Option("--pat-name", envvar="TABHOOKS_PAT_NAME", help="Personal access token name."),
    ] = None,
    pat_secret_env: Annotated[
        str | None,
        typer.Option(
            "--pat-secret-env",
            envvar="TABHOOKS_PAT_SECRET_ENV",
            metavar="VAR",
            help="Environment variable holding the PAT secret (saved by name, so expired "
            "sessions renew). Without it you are prompted.",
        ),
    ] = None,
    username: Annotated[
        str | None,
        typer.Option("--username", "-u", envvar="TABHOOKS_USERNAME", help="User name."),
    ] = None,
    password_env: Annotated[
        str | None,
        typer.Option(
            "--password-env",
            envvar="TABHOOKS_PASSWORD_ENV",
            metavar="VAR",
            help="Environment variable holding the password (saved by name, never its value).",
        ),
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
    api_version: Annotated[
        str | None,
        typer.Option(
            "--api-version",
            envvar="TABHOOKS_API_VERSION",
            help="REST API version to speak (default: what the server advertises).",
        ),
    ] = None,
    profile: ProfileOpt = DEFAULT,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Sign in to Tableau Cloud, Tableau Server or tabhooks and save the session as a profile.

    The profile (server, site, user or token name, the NAME of the secret's environment
    variable, and the session token) is saved with mode 0600 in the config directory
    (TABHOOKS_CONFIG_DIR overrides it). Secrets are never saved.

    Example: [bold]tabhooks login --server https://10ax.online.tableau.com --site mysite
    --pat-name ci --pat-secret-env TABLEAU_PAT[/]

    Example: [bold]tabhooks login --server http://127.0.0.1:8000 --username admin[/]
    """
    if (pat_name is None) == (username is None):
        raise typer.BadParameter(
            "give exactly one of --pat-name or --username", param_hint="--pat-name/--username"
        )
    if pat_name is not None and (password_env or password_stdin):
        raise typer.BadParameter(
            "with --pat-name use --pat-secret-env", param_hint="--password-env"
        )
    if username is not None and pat_secret_env:
        raise typer.BadParameter(
            "with --username use --password-env", param_hint="--pat-secret-env"
        )
    if api_version is not None:
        try:
            version_tuple(api_version)
        except ValueError:
            raise typer.BadParameter("e.g. 3.22", param_hint="--api-version") from None
    base, content_url = _normalise(server, site)
    if pat_name is not None:
        secret = _secret(pat_secret_env, False, "PAT secret", "--pat-secret-env")
        secret_env = pat_secret_env
    else:
        secret = _secret(password_env, password_stdin, "password", "--password-env")
        secret_env = password_env
    with output.reporting(verbose), TableauClient(base, api_version or "3.6") as client:
        if api_version is None:
            client.api_version = client.server_version()
        saved = Profile(
            name=profile,
            server=base,
            site=content_url,
            api_version=client.api_version,
            auth="pat" if pat_name is not None else "password",
            tabhooks=client.is_tabhooks(),
            username=username,
            pat_name=pat_name,
            secret_env=secret_env,
        )
        credentials = profiles.sign_in(client, saved, secret)
        profiles.save(saved.with_credentials(credentials))
        who = _user_name(client, username or pat_name or "")
    if as_json:
        output.emit_json(
            {
                "profile": profile,
                "server": base,
                "site": content_url,
                "site_id": credentials.site_id,
                "user_id": credentials.user_id,
                "user": who,
                "api_version": saved.api_version,
                "tabhooks": saved.tabhooks,
                "token_expires_at": credentials.expires_at.isoformat(),
                "config": str(profiles.path()),
            }
        )
        return
    kind = "tabhooks" if saved.tabhooks else "Tableau"
    output.say(
        "Logged in to ",
        (base, "bold"),
        f" as {who} on site '{content_url or 'Default'}' ({kind}, REST API {saved.api_version}).",
    )
    output.note(f"Profile '{profile}' saved in {profiles.path()}")
    if version_tuple(saved.api_version) < version_tuple("3.6"):
        output.note("This server's API predates webhooks (3.6); webhook commands will fail.")


def logout(
    forget: Annotated[
        bool, typer.Option("--forget", help="Also delete the profile, not just its session.")
    ] = False,
    profile: ProfileOpt = DEFAULT,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Sign out (the server forgets the token) and drop the cached token.

    Example: [bold]tabhooks logout --profile cloud --forget[/]
    """
    with output.reporting(verbose):
        saved = profiles.load(profile)
        if saved.token is not None:
            session = Credentials(
                saved.token, saved.site_id or "", saved.user_id or "", datetime.now(UTC)
            )
            client = TableauClient(saved.server, saved.api_version, session)
            try:
                client.sign_out()
            except Exception as exc:  # the local token is dropped whatever the server says
                output.note(f"The server did not confirm the sign-out ({exc}); dropping it anyway.")
            finally:
                client.close()
        if forget:
            profiles.remove(profile)
        else:
            profiles.save(saved.with_credentials(None))
    if as_json:
        output.emit_json({"profile": profile, "logged_out": True, "deleted": forget})
    elif forget:
        output.say(f"Logged out; profile '{profile}' deleted.")
    else:
        output.say(f"Logged out of profile '{profile}'.")
