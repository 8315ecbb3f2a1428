"""``tabhooks admin``: local administration straight on the store (no server needed)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from tabhooks.cli import output, startup, terminal
from tabhooks.cli.options import JsonOpt
from tabhooks.errors import TableauError

if TYPE_CHECKING:
    from tabhooks.config import Settings
    from tabhooks.store import Store
    from tabhooks.store.sessions import PatInfo

app = typer.Typer(help="Administer the local store directly.", no_args_is_help=True)
console = Console()

T = TypeVar("T")


async def _on_store(work: Callable[[Store, Settings], Awaitable[T]]) -> T:
    """Run ``work`` on the configured store (which must exist), migrated and bootstrapped."""
    # Imported here so the client commands (webhooks, inbox, ...) start without the server.
    from tabhooks.cli.local_store import open_existing
    from tabhooks.services.bootstrap import bootstrap
    from tabhooks.store import migrate

    settings = startup.load_settings()  # a bad value is one line, not a traceback
    store = open_existing(settings.database_url)
    try:
        await migrate(store)
        await bootstrap(store, settings)
        return await work(store, settings)
    finally:
        await store.dispose()


def _run(work: Callable[[Store, Settings], Awaitable[T]]) -> T:
    """:func:`_on_store`, with a Tableau error printed as ``error CODE: detail`` (exit 1)."""
    try:
        return asyncio.run(_on_store(work))
    except TableauError as exc:
        console.print(f"[red]error {exc.code}[/]: {terminal.markup(exc.detail)}", highlight=False)
        raise typer.Exit(1) from exc


@app.command("create-pat")
def create_pat(
    user: str = typer.Argument(..., help="User name the token signs in as."),
    name: str = typer.Argument(..., help="Token name (personalAccessTokenName)."),
    as_json: JsonOpt = False,
) -> None:
    """Create a personal access token and print its secret once.

    Example: [bold]tabhooks admin create-pat admin ci-token[/]
    """
    from tabhooks.services import users

    async def work(store: Store, _: Settings) -> str:
        return (await users.create_pat(store, None, user_name=user, token_name=name))[1]

    secret = _run(work)
    if as_json:
        output.emit_json({"user": user, "name": name, "secret": secret})
        return
    console.print(f"personalAccessTokenName: [bold]{terminal.markup(name)}[/]")
    console.print(f"personalAccessTokenSecret: [bold]{terminal.markup(secret)}[/]")
    console.print("The secret is shown only now; tabhooks stores only its hash.")


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%SZ") if moment is not None else "-"


@app.command("list-pats")
def list_pats(
    user: str | None = typer.Argument(None, help="Only this user's tokens (default: everyone's)."),
    as_json: JsonOpt = False,
) -> None:
    """List personal access tokens: user, name, created, expires, last used (never secrets).

    Example: [bold]tabhooks admin list-pats admin[/]
    """
    from tabhooks.services import users

    async def work(store: Store, _: Settings) -> list[PatInfo]:
        return await users.list_pats(store, None, user_name=user)

    found = _run(work)
    if as_json:
        output.emit_json(
            [
                {
                    "user": pat.user_name,
                    "name": pat.name,
                    "created_at": pat.created_at,
                    "expires_at": pat.expires_at,
                    "last_used_at": pat.last_used_at,
                }
                for pat in found
            ]
        )
        return
    if not found:
        console.print("No personal access tokens.")
        return
    table = Table("user", "name", "created", "expires", "last used")
    for pat in found:
        table.add_row(
            terminal.text(pat.user_name),
            terminal.text(pat.name),
            _when(pat.created_at),
            _when(pat.expires_at),
            _when(pat.last_used_at),
        )
    console.print(table)


@app.command("revoke-pat")
def revoke_pat(
    user: str = typer.Argument(..., help="User name the token belongs to."),
    name: str = typer.Argument(..., help="Token name (personalAccessTokenName)."),
    as_json: JsonOpt = False,
) -> None:
    """Revoke a personal access token: it signs in no more, and its sessions end now.

    Example: [bold]tabhooks admin revoke-pat admin ci-token[/]
    """
    from tabhooks.services import users

    async def work(store: Store, settings: Settings) -> tuple[int, bool]:
        ended = await users.revoke_pat(store, None, user_name=user, token_name=name)
        configured = (
            settings.admin_pat_name == name
            and settings.admin_pat_secret is not None
            and settings.admin_username.lower() == user.lower()
        )
        return ended, configured

    ended, configured = _run(work)
    if as_json:
        output.emit_json(
            {"user": user, "name": name, "sessions_ended": ended, "configured": configured}
        )
        return
    console.print(
        f"Revoked personal access token [bold]{terminal.markup(name)}[/] of "
        f"{terminal.markup(user)}; "
        f"{ended} session{'s' if ended != 1 else ''} signed in with it ended."
    )
    if configured:
        console.print(
            "[yellow]Note[/]: TABHOOKS_ADMIN_PAT_NAME and TABHOOKS_ADMIN_PAT_SECRET name this "
            "token, so the server creates it again at its next start: unset them first."
        )


@app.command("generate-key")
def generate_key(as_json: JsonOpt = False) -> None:
    """Print a new random key for TABHOOKS_SECRET_KEY (stored secrets are sealed with it).

    Only the key is printed, so it can go straight into a file or a secret store; it is never
    written anywhere else. See docs/security.md for rotating keys.

    Example: [bold]tabhooks admin generate-key > /etc/tabhooks/secret.key[/]
    """
    from tabhooks.store.crypto import generate_key as new_key

    if as_json:
        output.emit_json({"key": new_key()})
    else:
        typer.echo(new_key())


@app.command("rotate-key")
def rotate_key(as_json: JsonOpt = False) -> None:
    """Re-encrypt every stored secret with the newest (first) key of TABHOOKS_SECRET_KEY.

    First put a new key in front of the old one (TABHOOKS_SECRET_KEY=NEW,OLD, or a new first
    line in the key file) and restart every server and worker, so they all open both; then
    run this; then remove the old key and restart again. Safe to run again. See
    docs/security.md.

    Example: [bold]TABHOOKS_SECRET_KEY=NEW,OLD tabhooks admin rotate-key[/]
    """
    from tabhooks.store.crypto import SecretKeyError
    from tabhooks.store.keys import install_secret_box
    from tabhooks.store.sealing import rotate_stored_secrets

    async def work(store: Store, settings: Settings) -> tuple[int, int, int]:
        box = install_secret_box(settings)
        # Seals anything still in clear too; refuses (changing nothing) if a value does not
        # open with any of the keys.
        done = await rotate_stored_secrets(store)
        return done.changed, done.unchanged, box.key_count

    try:
        changed, unchanged, keys = _run(work)
    except SecretKeyError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        output.emit_json({"changed": changed, "unchanged": unchanged, "keys": keys})
        return
    done = f"Re-encrypted {changed} stored secret(s) with the newest key"
    typer.echo(f"{done}; {unchanged} already used it.")
    if keys > 1:
        typer.echo(
            "No stored secret needs the older key(s) now: remove them from the configuration "
            "and restart the servers and workers."
        )
