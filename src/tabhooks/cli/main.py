"""The ``tabhooks`` command: one Typer app, one module per command group."""

from __future__ import annotations

import typer

from tabhooks import __version__
from tabhooks.cli import admin, serve, worker

app = typer.Typer(
    name="tabhooks",
    help="Tableau webhooks, self-hosted: serve the API, run workers, administer the store.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)
app.command("serve", help=serve.serve.__doc__)(serve.serve)
app.command("worker", help=worker.worker.__doc__)(worker.worker)
app.add_typer(admin.app, name="admin")


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
