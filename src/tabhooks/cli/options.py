"""Options every command shares, declared once so their names, env vars and help agree."""

from __future__ import annotations

from typing import Annotated

import typer

from tabhooks.cli.profiles import DEFAULT_PROFILE

ProfileOpt = Annotated[
    str,
    typer.Option(
        "--profile",
        envvar="TABHOOKS_PROFILE",
        help="Which saved login to use (see tabhooks login).",
    ),
]
JsonOpt = Annotated[
    bool,
    typer.Option(
        "--json", envvar="TABHOOKS_JSON", help="Print JSON with stable keys instead of tables."
    ),
]
VerboseOpt = Annotated[
    bool,
    typer.Option(
        "--verbose", "-v", envvar="TABHOOKS_VERBOSE", help="Show the traceback of an error."
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
