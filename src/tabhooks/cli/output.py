"""How the CLI talks back: Rich tables for people, ``--json`` for scripts, errors on stderr.

Exit codes are a contract: 0 success; 1 when the server (Tableau or tabhooks) or the
environment refuses — the error's code, summary and detail are printed with a hint — or
when what was tried did not work (a test that nothing answered, a failed delivery); 2 for
usage errors (Typer's own, and ours raised as :class:`typer.BadParameter`); 130 when a
following command is stopped with Ctrl-C (143 with SIGTERM). A traceback is shown only
under ``-v``.

Everything a server sent is printed as text, never as Rich markup, so a webhook named
``[red]x`` is shown as typed, and through :func:`tabhooks.cli.terminal.clean`, so a captured
payload cannot drive the terminal.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

import httpx
import typer
from rich.console import Console
from rich.highlighter import JSONHighlighter
from rich.table import Table
from rich.text import Text

from tabhooks.cli import terminal
from tabhooks.tableau.client import TableauApiError
from tabhooks.tableau.profiles import ProfileError

#: Piped output is not folded at 80 columns: ids and URLs stay whole for grep and cut. A
#: ``COLUMNS`` set in the environment is the width, piped or not (Rich reads it).
console = Console(
    highlight=False,
    width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160,
)
errors = Console(stderr=True, highlight=False)

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
#: Stopped by SIGINT (Ctrl-C): 128 + the signal's number, as shells report it.
EXIT_INTERRUPTED = 130

#: What to try next, by Tableau error code.
HINTS: dict[str, str] = {
    "401000": "Log in first: tabhooks login --server URL ...",
    "401001": "Check the user name and password (or the token name and secret) and the site's "
    "content URL (--site; empty for the Default site). A PAT that was revoked or expired "
    "fails the same way.",
    "401002": "The session expired or was signed out: run tabhooks login again.",
    "403000": "Managing webhooks and reading deliveries needs a site or server administrator.",
    "403001": "The token belongs to another site: log in again with the right --site.",
    "403004": "Your site role does not allow this.",
    "404000": "No such site: check --site (the content URL shown in the browser, not the name).",
    "404003": "Check the id. If the detail names an API version, log in again with "
    "--api-version (webhooks need 3.6, updates 3.8).",
    "404060": "List the site's webhooks with: tabhooks webhooks list",
    "400113": "List the site's webhooks with: tabhooks webhooks list",
    "400127": "Enable without a reason: tabhooks webhooks enable ID",
    "400140": "See the catalog with: tabhooks events",
    "400141": "Destinations must be https:// and public. For a development tabhooks server, "
    "start it with --dev (or set TABHOOKS_ALLOWED_DESTINATION_CIDRS).",
    "409000": "The delivery is still queued; wait for it to finish, then redeliver.",
    "409004": "Content with that name exists in the project: pick another --name.",
    "409093": "A refresh of that content is already queued.",
    "409160": "Webhook names are unique per site: pick another --name, or update the existing "
    "webhook.",
}


class CliError(Exception):
    """A failure the user can act on: printed as ``message`` plus ``hint``, exit 1.

    :class:`~tabhooks.tableau.profiles.ProfileError` (a profile that cannot be used) has
    the same two fields and is reported the same way.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def _cause_chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc.__cause__ or exc.__context__
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def print_error(message: str, hint: str | None = None, detail: str | None = None) -> None:
    errors.print(Text.assemble(("Error: ", "bold red"), terminal.clean(message)), soft_wrap=True)
    if detail:
        errors.print(Text("  " + terminal.clean(detail)), soft_wrap=True)
    if hint:
        errors.print(Text.assemble(("  Hint: ", "yellow"), terminal.clean(hint)), soft_wrap=True)


@contextmanager
def reporting(verbose: bool, hints: dict[str, str] | None = None) -> Iterator[None]:
    """Turn every failure inside a command into a printed error and the documented exit code.

    ``hints`` override :data:`HINTS` for this command (a 404 means "list them" in context).

    Typer's own exceptions (usage errors, ``typer.Exit``) pass through untouched so Typer
    prints them and exits 2 (or as told).
    """
    try:
        yield
    except (typer.Exit, typer.Abort, typer.exceptions.TyperException):
        raise
    except TableauApiError as exc:
        hint = (hints or {}).get(exc.code) or HINTS.get(exc.code)
        print_error(f"{exc.code} {exc.summary}".strip(), hint, exc.detail)
        if verbose:
            errors.print(Text(traceback.format_exc()))
        raise typer.Exit(EXIT_ERROR) from exc
    except (CliError, ProfileError) as exc:
        print_error(exc.message, exc.hint)
        if verbose:
            errors.print(Text(traceback.format_exc()))
        raise typer.Exit(EXIT_ERROR) from exc
    except httpx.HTTPError as exc:
        where = str(exc.request.url) if _has_request(exc) else "the server"
        print_error(
            f"cannot reach {where}: {type(exc).__name__}: {exc or 'no detail'}",
            "Check the server URL and that it is running (tabhooks login --server ...).",
        )
        if verbose:
            errors.print(Text(traceback.format_exc()))
        raise typer.Exit(EXIT_ERROR) from exc
    except Exception as exc:
        print_error(f"{type(exc).__name__}: {exc}")
        for cause in _cause_chain(exc):
            errors.print(terminal.text(f"  caused by {type(cause).__name__}: {cause}"))
        if verbose:
            errors.print(Text(traceback.format_exc()))
        else:
            errors.print(Text("  (run again with -v for the traceback)", style="dim"))
        raise typer.Exit(EXIT_ERROR) from exc


def _has_request(exc: httpx.HTTPError) -> bool:
    try:
        exc.request  # noqa: B018 - raises RuntimeError when the error has no request
    except RuntimeError:
        return False
    return True


def emit_json(data: Any) -> None:
    """One JSON document on stdout (``--json``), terminal controls escaped as ``\\uXXXX``."""
    document = json.dumps(data, indent=2, default=str, ensure_ascii=False)
    sys.stdout.write(terminal.json_safe(document) + "\n")
    sys.stdout.flush()


def emit_json_line(data: Any) -> None:
    """One compact JSON object per line, flushed: the ``--json`` form of tail and listen."""
    sys.stdout.write(terminal.json_safe(json.dumps(data, default=str, ensure_ascii=False)) + "\n")
    sys.stdout.flush()


def line(*parts: str | tuple[str, str] | Text) -> Text:
    """One line from parts (``"text"`` or ``("text", "style")``), every string made safe.

    ``Text`` parts are taken as they are: build them with :func:`tabhooks.cli.terminal.text`.
    """
    return Text.assemble(
        *(
            part
            if isinstance(part, Text)
            else (terminal.clean(part[0]), part[1])
            if isinstance(part, tuple)
            else terminal.clean(part)
            for part in parts
        )
    )


def say(*parts: str | tuple[str, str] | Text) -> None:
    """A line for people on stdout; strings are never read as markup (see :func:`line`)."""
    console.print(line(*parts), soft_wrap=True)


def note(message: str) -> None:
    """Progress and side remarks for people, on stderr so stdout stays parseable."""
    errors.print(terminal.text(message, "dim", lines=True), soft_wrap=True)


def json_block(data: Any, indent: str = "") -> None:
    """Pretty-printed JSON for people (a payload), highlighted, controls escaped."""
    document = json.dumps(data, indent=2, default=str, ensure_ascii=False)
    shown = terminal.text(indent + document.replace("\n", "\n" + indent), lines=True)
    JSONHighlighter().highlight(shown)
    console.print(shown, soft_wrap=True)


#: Narrowest a folded column is made before a table gives way to one block per row.
FOLD_FLOOR = 8

Item = TypeVar("Item")


def table(
    title: str | None,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    keep: Collection[int] = (0,),
) -> None:
    """A table whose ``keep`` columns (ids, URLs) are never broken, at any terminal width.

    Those columns are as wide as their longest value and never wrap; the others fold. When
    even that does not fit — the others would drop below :data:`FOLD_FLOOR` characters — each
    row is printed as a block of ``label  value`` lines instead, values unbroken (a terminal
    may still wrap a long line visually, but copying it gives the whole id or URL back).

    Args:
        title: Shown above the table, or ``None``.
        columns: The header of each column.
        rows: One sequence of cells per row: values (shown as text, controls escaped) or
            :class:`~rich.text.Text`.
        keep: Indexes of the columns never to break.
    """
    cells = [[c if isinstance(c, Text) else terminal.text(_cell(c)) for c in row] for row in rows]
    widths = [
        max([len(column), *(row[index].cell_len for row in cells)])
        for index, column in enumerate(columns)
    ]
    kept = sum(widths[i] for i in keep)
    folded = sum(min(w, FOLD_FLOOR) for i, w in enumerate(widths) if i not in keep)
    # Each column adds one space of padding on either side and one border line; one more
    # closes the table.
    if kept + folded + 3 * len(columns) + 1 > console.width:
        _blocks(title, columns, cells)
        return
    grid = Table(title=title, title_justify="left", show_lines=False)
    for index, column in enumerate(columns):
        if index in keep:
            grid.add_column(column, no_wrap=True, min_width=widths[index])
        else:
            grid.add_column(column, overflow="fold")
    for row in cells:
        grid.add_row(*row)
    console.print(grid)


def list_items(
    found: Sequence[Item],
    as_json: bool,
    columns: Sequence[str],
    row: Callable[[Item], Sequence[Any]],
    *,
    keep: Collection[int] = (0,),
    empty: str | None = None,
) -> None:
    """A ``list`` command's answer, the same in every command: the items as one JSON array
    under ``--json``; else, when there are none and ``empty`` is given, that line (saying how
    to make one); else a :func:`table` of one row per item.

    Args:
        found: The items, as the server sent them (what ``--json`` prints).
        as_json: ``--json`` was given.
        columns: The table's header.
        row: One item's cells, in the order of ``columns``.
        keep: Indexes of the columns never to break (ids, URLs).
        empty: The line for an empty list, or ``None`` for an empty table.
    """
    if as_json:
        emit_json(found)
        return
    if not found and empty is not None:
        say(empty)
        return
    table(None, columns, [row(item) for item in found], keep=keep)


def _blocks(title: str | None, columns: Sequence[str], cells: Sequence[Sequence[Text]]) -> None:
    """A table too wide for the terminal: one ``label  value`` block per row."""
    width = max(len(column) for column in columns)
    if title:
        console.print(Text(title, style="italic"), soft_wrap=True)
    for number, row in enumerate(cells):
        if number:
            console.print()
        for column, value in zip(columns, row, strict=True):
            console.print(Text.assemble((f"{column:<{width}}  ", "bold"), value), soft_wrap=True)


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def fields(pairs: Sequence[tuple[str, Any]]) -> None:
    """``label  value`` lines for one object."""
    width = max(len(label) for label, _ in pairs)
    for label, value in pairs:
        say((f"{label:<{width}}  ", "bold"), _cell(value))


def status_text(status: str | None) -> Text:
    style = {"succeeded": "green", "failed": "red", "pending": "yellow", "delivering": "cyan"}
    return terminal.text(status or "—", style.get(status or "", ""))


def last_answer(delivery: dict[str, Any]) -> str:
    """A delivery's last answer: ``HTTP 503``, or the error class when none came."""
    if delivery.get("last_status") is not None:
        return f"HTTP {delivery['last_status']}"
    return str(delivery.get("last_error") or "—")


def local_time(value: str | datetime | None) -> str:
    """An API timestamp as local ``HH:MM:SS`` (the tail and listen lines)."""
    if value is None:
        return "--:--:--"
    moment = (
        datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    )
    return moment.astimezone().strftime("%H:%M:%S")
