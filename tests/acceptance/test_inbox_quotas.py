"""Bins are bounded (issue 14): how many bins and kept requests a user and a site may hold,
what a flood of captures may cost, and what live views — open to anyone holding a bin's URL —
may cost, against the real server.

Before: a user could create bins without end, each keeping 10,000 requests of 256 KiB; a bin
told never to answer held every captured body for as long as it held the connection; anyone
could open live views without limit, and one that never read kept its stream (and its place
in memory) for ever; a flooded bin made every live view re-read and re-render every request
that had arrived in the last seconds on the event loop.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.acceptance.test_inbox import ui_client
from tests.conftest import database_url_for
from tests.support.rest import Rest
from tests.support.server import ServerProcess

PASSWORD = "Inbox-quota-pw-123!"
BODY_TIMEOUT_S = 1.5
SEND_TIMEOUT_S = 2.0
WAIT_S = 30.0
QUOTAS = {
    "INBOX_MAX_BINS_PER_USER": "3",
    "INBOX_MAX_BINS_PER_SITE": "5",
    "INBOX_MAX_REQUESTS_PER_USER": "1000",
    "INBOX_MAX_REQUESTS_PER_SITE": "1500",
    "INBOX_MAX_REQUESTS": "100",
    "INBOX_CAPTURE_BURST": "100",
    "INBOX_CAPTURE_RATE_PER_S": "0.1",
    "INBOX_CAPTURES_IN_FLIGHT": "1",
    "INBOX_CAPTURE_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
}
STREAMS = {
    "INBOX_STREAMS_PER_BIN": "2",
    "INBOX_STREAMS_PER_ADDRESS": "3",
    "INBOX_STREAMS_MAX": "4",
    "INBOX_STREAM_SEND_TIMEOUT_S": str(SEND_TIMEOUT_S),
    "INBOX_CAPTURE_BURST": "1000",
}


def started(workdir: Path, url: str, env: dict[str, str]) -> ServerProcess:
    return ServerProcess(url, workdir, {f"TABHOOKS_{k}": v for k, v in env.items()}).start()


@pytest.fixture(scope="module")
def server(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A server with small quotas: 3 bins per user, 5 per site, one capture at a time."""
    workdir = tmp_path_factory.mktemp("inbox-quotas")
    running = started(workdir, database_url_for(backend, request, workdir), QUOTAS)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def admin(server: ServerProcess) -> Iterator[Rest]:
    rest = Rest.sign_in(server)
    yield rest
    rest.close()


class Bins:
    """One signed-in user's calls to ``/tabhooks/v1/inbox``."""

    def __init__(self, rest: Rest) -> None:
        self.rest = rest
        self.url = f"{rest.server.base_url}/tabhooks/v1/inbox/bins"
        self.headers = {"X-Tableau-Auth": rest.token, "Accept": "application/json"}

    def create(self, **settings: Any) -> httpx.Response:
        return httpx.post(self.url, json=settings, headers=self.headers)

    def made(self, **settings: Any) -> dict[str, Any]:
        response = self.create(**settings)
        assert response.status_code == 201, response.text
        return response.json()

    def patch(self, bin_id: str, **settings: Any) -> httpx.Response:
        return httpx.patch(f"{self.url}/{bin_id}", json=settings, headers=self.headers)

    def delete(self, bin_id: str) -> None:
        assert httpx.delete(f"{self.url}/{bin_id}", headers=self.headers).status_code == 204

    def requests(self, bin_id: str, **params: Any) -> dict[str, Any]:
        response = httpx.get(
            f"{self.url}/{bin_id}/requests", params=params, headers=self.headers, timeout=60
        )
        assert response.status_code == 200, response.text
        return response.json()

    def delete_all(self) -> None:
        listed = httpx.get(self.url, headers=self.headers).json()["bins"]
        for bin_ in listed:
            if httpx.delete(f"{self.url}/{bin_['id']}", headers=self.headers).status_code != 204:
                continue  # another user's bin, for its creator to delete


def refused(response: httpx.Response, code: str, *phrases: str) -> None:
    status = int(code[:3])
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    for phrase in phrases:
        assert phrase in error["detail"], error["detail"]


@pytest.fixture
def bins(admin: Rest) -> Iterator[Bins]:
    mine = Bins(admin)
    mine.delete_all()
    yield mine
    mine.delete_all()


@pytest.fixture(scope="module")
def colleague(server: ServerProcess, admin: Rest) -> Iterator[Rest]:
    """A Creator on the admin's site, who may create bins too."""
    admin.add_user("quota-colleague", "Creator", PASSWORD)
    rest = Rest.sign_in(server, "quota-colleague", PASSWORD)
    yield rest
    rest.close()


# ------------------------------------------------------------------- bins and kept requests


def test_bins_per_user_and_per_site_are_capped(bins: Bins, colleague: Rest) -> None:
    theirs = Bins(colleague)
    for _ in range(3):
        bins.made()
    refused(bins.create(), "403181", "TABHOOKS_INBOX_MAX_BINS_PER_USER=3", "You have 3")
    kept = [theirs.made()["id"] for _ in range(2)]
    refused(theirs.create(), "403181", "TABHOOKS_INBOX_MAX_BINS_PER_SITE=5", "This site has 5")
    theirs.delete(kept[0])
    theirs.made()  # a deleted bin frees its place


def test_bins_created_at_once_never_pass_the_quota(bins: Bins) -> None:
    """Twenty creations at once for three places: the quota check and the insert happen in
    one transaction, under the site's and the user's row locks on PostgreSQL."""
    start = threading.Barrier(20)

    def create(_: int) -> int:
        start.wait()
        return bins.create().status_code

    with ThreadPoolExecutor(20) as pool:
        statuses = sorted(pool.map(create, range(20)))
    assert statuses == [201] * 3 + [403] * 17


def test_requests_kept_by_a_users_bins_are_capped_on_create_and_on_raise(bins: Bins) -> None:
    big = bins.made(max_requests=900)
    small = bins.made(max_requests=100)  # 900 + 100 = 1000: exactly the quota
    refused(bins.create(max_requests=1), "403181", "TABHOOKS_INBOX_MAX_REQUESTS_PER_USER")
    refused(
        bins.patch(small["id"], max_requests=101),
        "403181",
        "Your bins already keep up to 900 requests together, of 1000 allowed",
        "at most 100 does",
    )
    assert bins.patch(big["id"], max_requests=899).status_code == 200  # lowering always fits
    assert bins.patch(small["id"], max_requests=101).status_code == 200


def test_requests_kept_by_a_sites_bins_are_capped(bins: Bins, colleague: Rest) -> None:
    theirs = Bins(colleague)
    bins.made(max_requests=1000)
    theirs.made(max_requests=500)  # the site's bins keep 1500: its quota
    refused(
        theirs.create(max_requests=1),
        "403181",
        "This site's bins already keep up to 1500 requests",
        "TABHOOKS_INBOX_MAX_REQUESTS_PER_SITE",
    )


def test_lowering_max_requests_drops_the_oldest_at_once(bins: Bins) -> None:
    made = bins.made(max_requests=10)
    for i in range(4):
        httpx.post(made["url"], content=f"{i}".encode()).raise_for_status()
    assert bins.patch(made["id"], max_requests=2).status_code == 200
    assert [r["body"] for r in bins.requests(made["id"])["requests"]] == ["3", "2"]


def test_the_dashboard_form_says_why_a_bin_was_refused(server: ServerProcess, bins: Bins) -> None:
    for _ in range(3):
        bins.made()
    client, csrf = ui_client(server.base_url)
    try:
        page = client.post("/ui/bins", data={"csrf": csrf, "name": "one too many"})
    finally:
        client.close()
    assert page.status_code == 403
    assert "text/html" in page.headers["content-type"]
    assert "TABHOOKS_INBOX_MAX_BINS_PER_USER=3" in page.text


# ------------------------------------------------------------------------------ captures


def test_a_flooded_bin_answers_429_beyond_its_rate_and_captures_nothing_more(
    bins: Bins,
) -> None:
    """100 at once, then 0.1 a second: of 110 sent in a row, the first 100 are captured and
    the rest (but for a refilled one or two) refused before their body is read."""
    made = bins.made(max_requests=200)
    with httpx.Client(headers={"Accept": "application/json"}) as sender:
        answers = [sender.post(made["url"], content=b"{}") for _ in range(110)]
    statuses = [a.status_code for a in answers]
    assert statuses[:100] == [200] * 100 and statuses.count(429) >= 5
    over = next(a for a in answers if a.status_code == 429)
    assert int(over.headers["Retry-After"]) >= 1
    refused(over, "429000", "TABHOOKS_INBOX_CAPTURE_RATE_PER_S", "was not captured")
    assert _held(bins, made["id"]) == statuses.count(200) < 110


def _held(bins: Bins, bin_id: str) -> int:
    listed = httpx.get(bins.url, headers=bins.headers).json()["bins"]
    return int(next(b for b in listed if b["id"] == bin_id)["request_count"] or 0)


def _held_post(base_url: str, path: str, body: bytes) -> socket.socket:
    host, port = base_url.removeprefix("http://").rsplit(":", 1)
    sock = socket.create_connection((host, int(port)))
    head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\n\r\n"
    sock.sendall(head.encode() + body)
    return sock


def _rss_mb(server: ServerProcess) -> float:
    assert server.process is not None
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    (line,) = [row for row in status.splitlines() if row.startswith("VmRSS:")]
    return int(line.split()[1]) / 1024


def test_a_bin_that_never_answers_does_not_hold_the_bodies_it_captured(
    server: ServerProcess, bins: Bins
) -> None:
    """90 requests of 256 KiB held open by a never-answering bin, sent one after another so
    only one body is ever being received at a time: the server grows by far less than the
    22.5 MiB the bodies take (it grew 36 MiB for 120 before: each waiting answer held its
    body)."""
    made = bins.made(never_answer=True)
    body = b"x" * (256 * 1024)
    path = f"/inbox/{made['id']}"
    held: list[socket.socket] = []
    before = _rss_mb(server)
    try:
        for count in range(1, 91):
            held.append(_held_post(server.base_url, path, body))
            deadline = time.monotonic() + WAIT_S
            while _held(bins, made["id"]) < count:
                assert time.monotonic() < deadline, f"request {count} was not captured"
                time.sleep(0.01)
        grown = _rss_mb(server) - before
    finally:
        for sock in held:
            sock.close()
    print(f"\nserver grew {grown:.1f} MiB holding 90 never-answered 256 KiB requests", end="")
    assert grown < 11


def test_a_sender_too_slow_to_send_its_body_loses_its_place_with_408(
    server: ServerProcess, bins: Bins
) -> None:
    """One capture at a time on this server: a sender that stalls half-way through its body is
    answered 408 after TABHOOKS_INBOX_CAPTURE_BODY_TIMEOUT_S, and the capture waiting behind
    it goes through."""
    made = bins.made()
    path = f"/inbox/{made['id']}"
    host, port = server.base_url.removeprefix("http://").rsplit(":", 1)
    stalled = socket.create_connection((host, int(port)))
    stalled.sendall(
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 1000\r\n\r\nonly ten b".encode()
    )
    time.sleep(0.3)  # the stalled capture takes the one place first
    waiting = httpx.post(made["url"], content=b"next", timeout=30)
    stalled.settimeout(30)
    answer = stalled.recv(65536).decode("latin-1")
    stalled.close()
    assert answer.startswith("HTTP/1.1 408"), answer
    assert '"408000"' in answer and "TABHOOKS_INBOX_CAPTURE_BODY_TIMEOUT_S" in answer
    assert waiting.status_code == 200
    assert [r["body"] for r in bins.requests(made["id"])["requests"]] == ["next"]


def test_a_page_of_requests_reads_a_bounded_amount_of_body(bins: Bins) -> None:
    """40 bodies of 250 kB are 10 MB: the API's page stops at about 8 MiB and pages on."""
    made = bins.made()
    for i in range(40):
        body = json.dumps({"n": i, "pad": "x" * 250_000}).encode()
        httpx.post(made["url"], content=body, timeout=30).raise_for_status()
    first = bins.requests(made["id"], limit=500)
    assert 20 <= len(first["requests"]) < 40 and first["next_before"]
    rest = bins.requests(made["id"], limit=500, before=first["next_before"])
    assert rest["next_before"] is None
    numbers = [json.loads(r["body"])["n"] for r in first["requests"] + rest["requests"]]
    assert numbers == list(range(39, -1, -1))


# ------------------------------------------------------------------------------ live views


@pytest.fixture(scope="module")
def streams_server(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """Two live views per bin, three per address, four in all; a 2 s send timeout."""
    workdir = tmp_path_factory.mktemp("inbox-streams")
    running = started(workdir, database_url_for(backend, request, workdir), STREAMS)
    yield running
    running.stop()


@pytest.fixture
def watched(streams_server: ServerProcess) -> Iterator[Bins]:
    rest = Rest.sign_in(streams_server)
    mine = Bins(rest)
    yield mine
    mine.delete_all()
    rest.close()


def _client(address: str = "127.0.0.1") -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(transport=transport, timeout=httpx.Timeout(10, read=5))


class View:
    """An open (or refused) live view, and its lines as they come."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.status_code = response.status_code
        self.lines = response.iter_lines()
        if self.status_code == 200:
            assert next(self.lines) == "retry: 1000"
        else:
            response.read()


@contextlib.contextmanager
def _stream(
    bin_: dict[str, Any], address: str = "127.0.0.1", since: float | None = None
) -> Iterator[View]:
    """A live view of ``bin_`` from ``address``: open (first line read) or refused."""
    params = {"since": str(since)} if since is not None else {}
    with (
        _client(address) as client,
        client.stream("GET", f"{bin_['ui_url']}/stream", params=params) as response,
    ):
        view = View(response)  # held here: dropping its line iterator would close the stream
        yield view


def _assert_429(view: View, setting: str) -> None:
    response = view.response
    assert response.status_code == 429, response.text
    assert int(response.headers["Retry-After"]) >= 1
    assert "text/html" in response.headers["content-type"]
    assert setting in response.text


def test_live_views_are_capped_per_bin_per_address_and_in_all(watched: Bins) -> None:
    a, b, c, d = (watched.made() for _ in range(4))
    with contextlib.ExitStack() as views:
        for _ in range(2):
            assert views.enter_context(_stream(a)).status_code == 200
        with _stream(a, "127.0.0.2") as third:
            _assert_429(third, "TABHOOKS_INBOX_STREAMS_PER_BIN")
        assert views.enter_context(_stream(b)).status_code == 200
        with _stream(c) as fourth_from_here:
            _assert_429(fourth_from_here, "TABHOOKS_INBOX_STREAMS_PER_ADDRESS")
        assert views.enter_context(_stream(c, "127.0.0.2")).status_code == 200
        with _stream(d, "127.0.0.3") as fifth:
            _assert_429(fifth, "TABHOOKS_INBOX_STREAMS_MAX")
    # Every place is given back when its view closes.
    deadline = time.monotonic() + WAIT_S
    while True:
        with contextlib.ExitStack() as views:
            opened = [views.enter_context(_stream(x, "127.0.0.4")) for x in (a, a)]
            if all(v.status_code == 200 for v in opened):
                break
        assert time.monotonic() < deadline, "places were not given back"
        time.sleep(0.2)


def _never_reading_view(base_url: str, bin_id: str) -> socket.socket:
    host, port = base_url.removeprefix("http://").rsplit(":", 1)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    sock.sendall(f"GET /ui/bins/{bin_id}/stream HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    return sock


def test_a_view_that_never_reads_is_dropped_and_frees_its_place(
    streams_server: ServerProcess, watched: Bins
) -> None:
    """A client that stops reading while cards keep coming: after the send timeout its
    stream ends (logged) and its place serves someone else; a reading view is unaffected."""
    made = watched.made(max_requests=100)
    mark = len(streams_server.output)
    stuck = _never_reading_view(streams_server.base_url, made["id"])
    received: list[str] = []
    try:
        with _stream(made, "127.0.0.2") as reader:
            assert reader.status_code == 200
            lines = reader.lines

            def read() -> None:
                with contextlib.suppress(httpx.HTTPError):
                    for line in lines:
                        if line.startswith("event: request"):
                            received.append(line)

            threading.Thread(target=read, daemon=True).start()
            # 40 cards of 200 kB, far more than the socket buffers hold: the stuck view's
            # writes stop, the reader's go on.
            for i in range(40):
                body = json.dumps({"n": i, "pad": "y" * 200_000}).encode()
                httpx.post(made["url"], content=body, timeout=30).raise_for_status()
            deadline = time.monotonic() + WAIT_S
            while True:
                with _stream(made, "127.0.0.3") as newcomer:
                    if newcomer.status_code == 200:
                        break
                    _assert_429(newcomer, "TABHOOKS_INBOX_STREAMS_PER_BIN")
                assert time.monotonic() < deadline, "the never-reading view kept its place"
                time.sleep(0.5)
    finally:
        stuck.close()
    log = "".join(streams_server.output[mark:])
    assert re.search(rf"action=inbox_stream_dropped bin={made['id']} .*reason=not_reading", log)
    assert "Traceback" not in log
    assert received, "the reading view got no card while the other was stuck"


def test_a_flood_shows_its_newest_requests_live_and_passes_over_the_rest(
    watched: Bins,
) -> None:
    """60 requests already waiting when the view opens: one look sends the newest 20 (a
    reload shows them all), not all 60 read and rendered at once."""
    made = watched.made()
    with httpx.Client() as sender:
        for i in range(60):
            sender.post(made["url"], content=f"{i}".encode()).raise_for_status()
    newest = watched.requests(made["id"], limit=1)["requests"][0]["id"]
    shown: list[str] = []
    with _stream(made, since=1.0) as view, contextlib.suppress(httpx.ReadTimeout):
        for line in view.lines:
            if line.startswith("id: "):
                shown.append(line.removeprefix("id: "))
    assert len(shown) == len(set(shown)) == 20
    assert shown[-1] == newest
