"""The ``tabhooks`` command: one Typer app, one module per command group."""

from __future__ import annotations

import inspect

import typer

from tabhooks import __version__
from tabhooks.cli import (
    admin,
    deliveries,
    events_cmd,
    fire,
    inbox,
    listen,
    login,
    relay,
    serve,
    webhooks,
    worker,
)

app = typer.Typer(
    name="tabhooks",
    help="Tableau webhooks, self-hosted: serve the API, run workers, administer the store, "
    "and manage webhooks on tabhooks or any Tableau site.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)
app.command("serve", help=serve.serve.__doc__)(serve.serve)
app.command("worker", help=worker.worker.__doc__)(worker.worker)
app.add_typer(admin.app, name="admin")
app.command("login", help=login.login.__doc__)(login.login)
app.command("logout", help=login.logout.__doc__)(login.logout)
app.add_typer(webhooks.app, name="webhooks")
app.command("events", help=events_cmd.events_command.__doc__)(events_cmd.events_command)
app.command("fire", help=fire.fire.__doc__)(fire.fire)
app.add_typer(deliveries.app, name="deliveries")
app.add_typer(inbox.app, name="inbox")
app.add_typer(relay.app, name="relay")
app.command("listen", help=listen.listen.__doc__)(listen.listen)


def _unwrap(doc: str | None) -> str | None:
    """Join each paragraph's lines: docstrings wrap at 100 columns, the terminal may not."""
    if doc is None:
        return None
    return "\n\n".join(p.replace("\n", " ") for p in inspect.cleandoc(doc).split("\n\n"))


def _unwrap_help(group: typer.Typer) -> None:
    for info in group.registered_commands:
        info.help = _unwrap(info.help or (info.callback.__doc__ if info.callback else None))
    for sub in group.registered_groups:
        if sub.typer_instance is not None:
            _unwrap_help(sub.typer_instance)


_unwrap_help(app)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tabhooks {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Tableau webhooks, self-hosted."""
