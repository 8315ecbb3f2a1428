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
from collections.abc import Iterator
from typing import Annotated, Any

import typer
from rich.text import Text

from tabhooks.cli import output, polling, profiles, terminal
from tabhooks.cli.client import TableauClient
from tabhooks.cli.options import (
    DEFAULT,
    JsonOpt,
    PollOpt,
    ProfileOpt,
    VerboseOpt,
    YesOpt,
    require_yes,
)

app = typer.Typer(
    help="Bins that capture webhooks: create, list, tail, delete.", no_args_is_help=True
)

BinArg = Annotated[str, typer.Argument(help="The bin's id, or its capture URL.")]
_PAGE_MAX = 500
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
    with profiles.session(profile, verbose, needs_tabhooks=True, hints=HINTS) as client:
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
    with profiles.session(profile, verbose, needs_tabhooks=True, hints=HINTS) as client:
        found = client.ext("GET", "/inbox/bins")["bins"]
    if as_json:
        output.emit_json(found)
        return
    output.table(
        None,
        ("bin", "name", "requests", "last received", "capture URL"),
        [
            (b["id"], b["name"], b["request_count"] or 0, b["last_received_at"], b["url"])
            for b in found
        ],
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

    Example: [bold]tabhooks inbox tail bin_01JD3W0V9D1C3AX4YQ2M8K7Z5R --body[/]
    """
    bin_id = bin_id_of(bin_ref)
    shown = 0
    with (
        profiles.session(profile, verbose, needs_tabhooks=True, hints=HINTS) as client,
        polling.until_signalled() as stop,
    ):
        client.ext("GET", f"/inbox/bins/{bin_id}")  # a wrong id fails now, not silently later
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

    Example: [bold]tabhooks inbox delete bin_01JD3W0V9D1C3AX4YQ2M8K7Z5R --yes[/]
    """
    require_yes(yes, "Deleting a bin")
    bin_id = bin_id_of(bin_ref)
    with profiles.session(profile, verbose, needs_tabhooks=True, hints=HINTS) as client:
        client.ext("DELETE", f"/inbox/bins/{bin_id}")
    if as_json:
        output.emit_json({"deleted": bin_id})
    else:
        output.say(f"Deleted bin {bin_id}.")
