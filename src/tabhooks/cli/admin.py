"""``tabhooks admin``: local administration straight on the store (no server needed)."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console

from tabhooks.errors import TableauError

app = typer.Typer(help="Administer the local store directly.", no_args_is_help=True)
console = Console()


async def _create_pat(user: str, name: str) -> str:
    # Imported here so the client commands (webhooks, inbox, ...) start without the server.
    from tabhooks.cli.local_store import open_existing
    from tabhooks.config import Settings
    from tabhooks.services import users
    from tabhooks.services.bootstrap import bootstrap
    from tabhooks.store import migrate

    settings = Settings()
    store = open_existing(settings.database_url)
    try:
        await migrate(store)
        await bootstrap(store, settings)
        _, secret = await users.create_pat(store, None, user_name=user, token_name=name)
        return secret
    finally:
        await store.dispose()


@app.command("create-pat")
def create_pat(
    user: str = typer.Argument(..., help="User name the token signs in as."),
    name: str = typer.Argument(..., help="Token name (personalAccessTokenName)."),
) -> None:
    """Create a personal access token and print its secret once.

    Example: [bold]tabhooks admin create-pat admin ci-token[/]
    """
    try:
        secret = asyncio.run(_create_pat(user, name))
    except TableauError as exc:
        console.print(f"[red]error {exc.code}[/]: {exc.detail}")
        raise typer.Exit(1) from exc
    console.print(f"personalAccessTokenName: [bold]{name}[/]")
    console.print(f"personalAccessTokenSecret: [bold]{secret}[/]")
    console.print("The secret is shown only now; tabhooks stores only its hash.")
