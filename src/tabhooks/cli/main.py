"""The ``tabhooks`` command: one Typer app, one module per command group."""

from __future__ import annotations

import inspect
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from tabhooks import __version__
from tabhooks.cli import (
    admin,
    deliveries,
    events_cmd,
    fire,
    inbox,
    listen,
    login,
    options,
    relay,
    schedules,
    serve,
    tasks,
    webhooks,
    worker,
)

#: Commands that print no JSON: ``tabhooks --json serve`` is a usage error, not ignored.
_NO_JSON = frozenset({"serve", "worker"})


def _bare_flags(params: Any) -> None:
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""


def _flags_take_no_value(command: Any, ctx: Any) -> None:
    """Show options that take no value (``--json``, ``--yes``, ``--help``) without a type.

    Typer's help prints a ``<bool>`` type beside every boolean option, as if it took a value
    (``--json true``); Click's plain help shows a flag bare. An empty metavar gives Typer's
    help the same, for every command below ``command``.
    """
    _bare_flags(command.get_params(ctx))
    for sub in getattr(command, "commands", {}).values():
        _flags_take_no_value(sub, ctx)


class _Root(TyperGroup):
    """The ``tabhooks`` group: every command it hands out shows its flags as flags."""

    def get_params(self, ctx: Any) -> Any:
        params = super().get_params(ctx)
        _bare_flags(params)
        return params

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _flags_take_no_value(command, ctx)
        return command


app = typer.Typer(
    cls=_Root,
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
app.add_typer(schedules.app, name="schedules")
app.add_typer(tasks.app, name="tasks")
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
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print JSON instead of tables, for any command (same as after it)."
        ),
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="Show the traceback of an error, for any command."),
    ] = False,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile", metavar="NAME", help="Which saved login to use, for any command."
        ),
    ] = None,
) -> None:
    """Tableau webhooks, self-hosted."""
    options.remember_root(ctx, as_json=as_json, verbose=verbose, profile=profile)
    if ctx.invoked_subcommand in _NO_JSON:
        options.refuse_root_json(ctx, f"tabhooks {ctx.invoked_subcommand}")
