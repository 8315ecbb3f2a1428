"""``tabhooks inbox``: the inspector's bins from the terminal — create, list, tail, delete.

A bin is tabhooks' "webhook test site": its capture URL records whatever is sent to it.
``tail`` follows a bin the way ``tail -f`` follows a file: the last few requests it holds,
then each new one as it arrives (see :mod:`tabhooks.cli.polling` for how and why it polls).
Bins are a tabhooks extension (``/tabhooks/v1/inbox``), so these commands need a tabhooks
server.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
from collections.abc import Iterator
from typing import Annotated, Any

import typer
from rich.text import Text

from tabhooks.cli import output, polling, terminal, webhooks
from tabhooks.cli.options import (
    DEFAULT,
    JsonOpt,
    PollOpt,
    ProfileOpt,
    VerboseOpt,
    YesOpt,
    require_yes,
)
from tabhooks.cli.output import CliError
from tabhooks.cli.sessions import session
from tabhooks.tableau.client import TableauApiError, TableauClient

app = typer.Typer(
    help="Bins that capture webhooks: create, list, tail, delete.", no_args_is_help=True
)

BinArg = Annotated[
    str, typer.Argument(metavar="BIN", help="The bin's id, its capture URL, or its name.")
]
_PAGE_MAX = 500
#: A bin id as the server makes them: ``bin_`` and 22 URL-safe base64 characters.
_BIN_ID = re.compile(r"^bin_[A-Za-z0-9_-]{16,}$")
HINTS = {"404003": "List the site's bins with: tabhooks inbox list"}
#: Pages read back in one look; a burst beyond them is skipped rather than stalling the tail.
_PAGES_MAX = 20
#: Page size while following (a look every half second rarely finds more).
_PAGE_NEW = 100
#: Ids remembered to recognise what was already shown (pruned oldest first).
_SEEN_MAX = 5000


def bin_id_of(ref: str) -> str:
    """Accept ``bin_…`` or a capture URL ``…/inbox/bin_…[/path]`` (what create printed)."""
    if "/inbox/" in ref:
        return ref.split("/inbox/", 1)[1].split("/", 1)[0].split("?", 1)[0]
    return ref


def _by_name(found: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """Bins named ``name`` exactly, else in any case (as webhooks are found by name)."""
    exact = [b for b in found if b["name"] == name]
    return exact or [b for b in found if str(b["name"]).lower() == name.lower()]


def resolve(client: TableauClient, ref: str) -> dict[str, Any]:
    """The bin ``ref`` names: a capture URL, an id, or a name the site's bins list.

    An id or URL is one GET. A name is looked up in the listing; when several bins share it
    (names are labels, not keys), the error lists each one's id so the user can pick.

    Raises:
        CliError: No bin has that name, or several do.
    """
    if "/inbox/" in ref or _BIN_ID.match(ref):
        try:
            found: dict[str, Any] = client.ext("GET", f"/inbox/bins/{bin_id_of(ref)}")
            return found
        except TableauApiError as missing:
            if "/inbox/" in ref or missing.status != 404:
                raise
            named = _by_name(client.ext("GET", "/inbox/bins")["bins"], ref)
            if not named:
                raise
    else:
        named = _by_name(client.ext("GET", "/inbox/bins")["bins"], ref)
    if len(named) == 1:
        return named[0]
    if not named:
        raise CliError(
            f"no bin with the id, capture URL or name '{ref}' on this site",
            hint="List the site's bins with: tabhooks inbox list",
        )
    listed = "; ".join(
        f"{b['id']} (created {str(b['created_at'])[:19].replace('T', ' ')}, "
        f"{b['request_count'] or 0} requests)"
        for b in sorted(named, key=lambda b: str(b["created_at"]))
    )
    raise CliError(
        f"{len(named)} bins are named '{ref}': {listed}",
        hint="Name the bin by its id or capture URL instead.",
    )


def webhooks_pointing_at(client: TableauClient, bin_id: str) -> list[dict[str, Any]] | None:
    """The site's webhooks whose destination is the bin (or a path below it).

    ``None`` when the user may not list webhooks (only administrators may, and then no
    webhook of theirs can point anywhere): the caller cannot tell, and says nothing.
    """
    try:
        hooks = webhooks.listing(client)
    except TableauApiError as refused:
        if refused.status == 403:
            return None
        raise
    return [
        hook
        for hook in hooks
        if "/inbox/" in str(hook["url"] or "") and bin_id_of(str(hook["url"])) == bin_id
    ]


def describe_webhooks(hooks: list[dict[str, Any]]) -> str:
    """``'a' (id), 'b' (id)``: the webhooks named in a warning."""
    return ", ".join(f"'{h['name']}' ({h['id']})" for h in hooks)


class BinFollower:
    """Finds the requests a bin received since following started, each exactly once.

    Request ids are time-ordered, so :meth:`start` records the newest id the bin holds as
    the *floor*: everything at or below it is history and is never returned by :meth:`poll`,
    however far back a look pages. Above the floor, a set of ids already returned catches a
    request that is committed a moment after a newer one was already seen. The baseline is
    taken before anything is announced, so a request arriving right after "ready" is never
    mistaken for an old one.
    """

    def __init__(self, client: TableauClient, bin_id: str) -> None:
        self.client = client
        self.bin_id = bin_id
        self._floor = ""
        self._seen: set[str] = set()

    def _page(self, limit: int, before: str | None) -> dict[str, Any]:
        params = {"limit": str(limit), **({"before": before} if before else {})}
        page: dict[str, Any] = self.client.ext(
            "GET", f"/inbox/bins/{self.bin_id}/requests", params=params
        )
        return page

    def start(self, last: int) -> list[dict[str, Any]]:
        """Take the baseline; return the newest ``last`` requests held, oldest first.

        Args:
            last: How many held requests to show before following (0: none).
        """
        newest = self._page(min(max(last, 1), _PAGE_MAX), None)["requests"]
        if newest:
            self._floor = max(r["id"] for r in newest)
        return sorted(newest, key=lambda r: r["id"])[-last:] if last > 0 else []

    def poll(self) -> list[dict[str, Any]]:
        """Requests above the floor not returned before, oldest first."""
        fresh: list[dict[str, Any]] = []
        before: str | None = None
        for _ in range(_PAGES_MAX):
            page = self._page(_PAGE_NEW, before)
            items = page["requests"]
            fresh.extend(r for r in items if r["id"] > self._floor and r["id"] not in self._seen)
            before = page.get("next_before")
            reached_known = any(r["id"] <= self._floor or r["id"] in self._seen for r in items)
            if not before or reached_known:
                break
        fresh.sort(key=lambda r: r["id"])
        self._seen.update(r["id"] for r in fresh)
        if len(self._seen) > _SEEN_MAX:
            kept = sorted(self._seen)[-_SEEN_MAX:]
            self._floor = max(self._floor, kept[0])  # what is forgotten becomes history
            self._seen = set(kept)
        return fresh


def follow(
    follower: BinFollower, stop: polling.Stop, interval_s: float = polling.INTERVAL_S
) -> Iterator[dict[str, Any]]:
    """Every new request, oldest first, until ``stop`` (call :meth:`BinFollower.start` first)."""
    while not stop.sleep(interval_s):
        yield from follower.poll()


def body_bytes(request: dict[str, Any]) -> bytes:
    body = str(request.get("body") or "")
    return base64.b64decode(body) if request.get("body_base64") else body.encode()


def describe(request: dict[str, Any]) -> str:
    """What a request carries, in a few words: the Tableau event, or its content type."""
    event = request.get("tableau")
    if event:
        return f"{event['event_type']} '{event['resource_name']}'"
    if body_bytes(request).strip() == b"{}":
        return "{} (a webhook test)"
    headers = {k.lower(): v for k, v in request.get("headers", [])}
    return headers.get("content-type", "") or f"{request.get('body_size', 0)} B"


def request_line(request: dict[str, Any]) -> Text:
    """``19:49:01  POST /path  WorkbookCreated 'Sales'  -> 200``, controls escaped."""
    path = "/" + str(request.get("path") or "").lstrip("/")
    if request.get("query"):
        path += f"?{request['query']}"
    answered = request.get("response_status")
    return output.line(
        (output.local_time(request.get("received_at")), "dim"),
        "  ",
        (str(request.get("method")), "bold"),
        f" {path}  ",
        (describe(request), "cyan"),
        f"  -> {answered if answered is not None else 'no answer'}",
    )


def _print_body(request: dict[str, Any]) -> None:
    raw = body_bytes(request)
    try:
        parsed = json.loads(raw)
    except ValueError:
        text = raw.decode("utf-8", errors="replace")
        if text:
            shown = terminal.text("    " + text.replace("\n", "\n    "), lines=True)
            output.console.print(shown, soft_wrap=True)
        return
    output.json_block(parsed, indent="    ")


@app.command("create")
def create(
    name: Annotated[str | None, typer.Option("--name", help="A label for people.")] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print only the capture URL (for scripts).")
    ] = False,
    profile: ProfileOpt = DEFAULT,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Create a bin and print its capture URL (point a webhook at it) and its live page.

    Example: [bold]URL=$(tabhooks inbox create --name refresh-alerts -q)[/]
    """
    with session(profile, verbose, needs_tabhooks=True, hints=HINTS) as client:
        created = client.ext("POST", "/inbox/bins", {"name": name} if name else {})
    if as_json:
        output.emit_json(created)
    elif quiet:
        output.say(created["url"])
    else:
        output.fields(
            [
                ("bin", created["id"]),
                ("capture URL", created["url"]),
                ("live page", created["ui_url"]),
            ]
        )
        output.note(f"Follow it here: tabhooks inbox tail {created['id']}")


@app.command("list")
def list_bins(
    profile: ProfileOpt = DEFAULT, as_json: JsonOpt = False, verbose: VerboseOpt = False
) -> None:
    """List the site's bins, with how many requests each holds.

    Example: [bold]tabhooks inbox list[/]
    """
    with session(profile, verbose, needs_tabhooks=True, hints=HINTS) as client:
        found = client.ext("GET", "/inbox/bins")["bins"]
    output.list_items(
        found,
        as_json,
        ("bin", "name", "requests", "last received", "capture URL"),
        lambda b: (b["id"], b["name"], b["request_count"] or 0, b["last_received_at"], b["url"]),
        keep=(0, 4),
        empty="No bins on this site. Create one: tabhooks inbox create --name NAME",
    )


@app.command("tail")
def tail(
    bin_ref: BinArg,
    last: Annotated[
        int, typer.Option("--last", "-n", min=0, help="Held requests to show first.")
    ] = 10,
    count: Annotated[
        int | None, typer.Option("--count", min=1, help="Exit after this many requests.")
    ] = None,
    body: Annotated[bool, typer.Option("--body", help="Print each request's body.")] = False,
    interval: PollOpt = polling.INTERVAL_S,
    profile: ProfileOpt = DEFAULT,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Show a bin's latest requests, then each new one as it arrives, until Ctrl-C.

    With --json, one request per line (the inbox API's request object).

    Example: [bold]tabhooks inbox tail refresh-alerts --body[/]
    """
    shown = 0
    with (
        session(profile, verbose, needs_tabhooks=True, hints=HINTS) as client,
        polling.until_signalled() as stop,
    ):
        bin_id = str(resolve(client, bin_ref)["id"])  # a wrong bin fails now, not later
        follower = BinFollower(client, bin_id)
        held = follower.start(last)
        output.note(f"Following {bin_id} (Ctrl-C to stop)")
        for request in itertools.chain(held, follow(follower, stop, interval)):
            if as_json:
                output.emit_json_line(request)
            else:
                output.console.print(request_line(request), soft_wrap=True)
                if body:
                    _print_body(request)
            shown += 1
            if count is not None and shown >= count:
                return


@app.command("delete")
def delete(
    bin_ref: BinArg,
    yes: YesOpt = False,
    profile: ProfileOpt = DEFAULT,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Delete a bin and everything it captured (needs --yes).

    Says which webhooks still point at the bin: their deliveries fail from now on.

    Example: [bold]tabhooks inbox delete bin_01JD3W0V9D1C3AX4YQ2M8K7Z5R --yes[/]
    """
    require_yes(yes, "Deleting a bin")
    with session(profile, verbose, needs_tabhooks=True, hints=HINTS) as client:
        bin_id = str(resolve(client, bin_ref)["id"])
        pointing = webhooks_pointing_at(client, bin_id) or []
        client.ext("DELETE", f"/inbox/bins/{bin_id}")
    if as_json:
        output.emit_json(
            {"deleted": bin_id, "webhooks": [{"id": h["id"], "name": h["name"]} for h in pointing]}
        )
        return
    output.say(f"Deleted bin {bin_id}.")
    if pointing:
        output.note(
            f"Still pointing at it: {describe_webhooks(pointing)}; their deliveries will fail "
            "until they are changed (tabhooks webhooks update WEBHOOK --url URL) or deleted."
        )
