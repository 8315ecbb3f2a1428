"""Options every command shares, declared once so their names, env vars and help agree.

``--json``, ``--profile`` and ``-v/--verbose`` are accepted in either place — before the
command (``tabhooks --json webhooks list``) or after it (``tabhooks webhooks list --json``) —
so a script can put them where it builds the rest of its command line. The root callback
(:func:`remember_root`) keeps what was given before the command in the context's shared
``meta``; each command's own option reads it back through a callback. An option given after
the command wins over the same option given before it.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from tabhooks.tableau.profiles import DEFAULT_PROFILE

#: Where the root callback leaves the options given before the command (``ctx.meta`` is
#: shared by a context and every context nested in it).
_ROOT_KEY = "tabhooks.root_options"


def remember_root(ctx: typer.Context, *, as_json: bool, verbose: bool, profile: str | None) -> None:
    """Keep the shared options given before the command, for the command's own to read."""
    ctx.meta[_ROOT_KEY] = {"json": as_json, "verbose": verbose, "profile": profile}


def _root(ctx: typer.Context) -> dict[str, Any]:
    found: dict[str, Any] = ctx.meta.get(_ROOT_KEY, {})
    return found


def root_json(ctx: typer.Context) -> bool:
    """Whether ``--json`` was given before the command."""
    return bool(_root(ctx).get("json"))


def _json_or_root(ctx: typer.Context, value: bool) -> bool:
    return value or root_json(ctx)


def _verbose_or_root(ctx: typer.Context, value: bool) -> bool:
    return value or bool(_root(ctx).get("verbose"))


def _profile_or_root(ctx: typer.Context, param: typer.CallbackParam, value: str) -> str:
    """The command's ``--profile`` if typed after it, else the one before it, else env/default."""
    before = _root(ctx).get("profile")
    source = ctx.get_parameter_source(param.name) if param.name else None
    typed_after = source is not None and source.name == "COMMANDLINE"
    return value if typed_after or before is None else str(before)


def refuse_root_json(ctx: typer.Context, command: str) -> None:
    """Commands that print no JSON (servers) say so rather than ignore ``tabhooks --json``."""
    if root_json(ctx):
        raise typer.BadParameter(
            f"{command} prints no JSON; --json is for the client commands.", param_hint="--json"
        )


ProfileOpt = Annotated[
    str,
    typer.Option(
        "--profile",
        metavar="NAME",
        envvar="TABHOOKS_PROFILE",
        callback=_profile_or_root,
        help="Which saved login to use (see tabhooks login); also accepted before the command.",
    ),
]
JsonOpt = Annotated[
    bool,
    typer.Option(
        "--json",
        envvar="TABHOOKS_JSON",
        callback=_json_or_root,
        help="Print JSON with stable keys instead of tables; also accepted before the command.",
    ),
]
VerboseOpt = Annotated[
    bool,
    typer.Option(
        "--verbose",
        "-v",
        envvar="TABHOOKS_VERBOSE",
        callback=_verbose_or_root,
        help="Show the traceback of an error.",
    ),
]
YesOpt = Annotated[
    bool,
    typer.Option("--yes", "-y", help="Confirm a destructive action (required)."),
]
PollOpt = Annotated[
    float,
    typer.Option(
        "--interval",
        envvar="TABHOOKS_POLL_INTERVAL_S",
        min=0.1,
        help="Seconds between looks at the server while following.",
    ),
]

DEFAULT = DEFAULT_PROFILE


def require_yes(yes: bool, what: str) -> None:
    """Destructive commands act only when told ``--yes`` (exit 2 otherwise)."""
    if not yes:
        raise typer.BadParameter(
            f"{what} cannot be undone; add --yes to confirm.", param_hint="--yes"
        )
