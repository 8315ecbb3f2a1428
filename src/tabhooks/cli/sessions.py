"""A command's session: a signed-in client from a saved profile, every failure reported.

The profiles themselves (the file, sign-in, renewal) are :mod:`tabhooks.tableau.profiles`,
shared with the relay; what is the CLI's own is how a failure ends the command — printed
with a hint and the documented exit code (:func:`tabhooks.cli.output.reporting`) — and
the refusals worded as advice to the user at the keyboard.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tabhooks.cli import output
from tabhooks.cli.output import CliError
from tabhooks.tableau.client import TableauClient, version_tuple
from tabhooks.tableau.profiles import open_client


@contextmanager
def session(
    name: str,
    verbose: bool,
    *,
    needs_tabhooks: bool = False,
    hints: dict[str, str] | None = None,
) -> Iterator[TableauClient]:
    """A command's body: a signed-in client, and every failure reported with its exit code.

    Args:
        name: The profile (``--profile``).
        verbose: Print tracebacks (``-v``).
        needs_tabhooks: The command uses tabhooks' extensions; a Tableau profile is refused.
        hints: Per-command hints by Tableau error code (see :func:`output.reporting`).
    """
    with (
        output.reporting(verbose, hints),
        open_client(name, needs_tabhooks=needs_tabhooks) as client,
    ):
        yield client


def require_version(client: TableauClient, minimum: str, what: str) -> None:
    """Refuse before calling when the profile's API version is too old for ``what``."""
    if version_tuple(client.api_version) < version_tuple(minimum):
        raise CliError(
            f"{what} needs REST API {minimum} or later; this profile speaks {client.api_version}",
            hint="Log in again with --api-version (or upgrade the server).",
        )
