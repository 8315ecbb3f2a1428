"""Is the server still answering while it does something heavy? (issue 14)

tabhooks runs its API, its deliveries and its jobs on one event loop, so anything slow on the
loop stops everything. This module starts one heavy operation at a time against a running
server — a hostile relay template render, a hostile workbook publish, refreshes whose
database never answers, a watched bin flooded with large requests — while a thread asks
``/tabhooks/v1/health`` every :data:`POLL_INTERVAL_S` and records how long each answer took.

Each operation runs to its end and checks that it ended as expected (the render failed its
message with a limit's reason, the publish was refused or stored, the refresh failed with
"timed out", the live views received cards), so a scenario cannot pass by doing nothing.

Used by ``tests/acceptance/test_responsiveness.py`` (which asserts only a generous freeze bound:
the machine is small and shared, and a frozen loop takes seconds, not milliseconds) and by
``bench/responsiveness.py`` (which prints the figures next to the 100 ms target).
"""

from __future__ import annotations

import io
import json
import socket
import statistics
import threading
import time
import uuid
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx

from tests.support.rest import API_VERSION, NS, multipart
from tests.support.server import ADMIN_PASSWORD, ADMIN_USERNAME
from tests.support.tableau_samples import connection_xml, datasource_xml

#: Time between the end of one health answer and the next request.
POLL_INTERVAL_S = 0.02
#: What the issue asks health to stay under while heavy work runs.
TARGET_MS = 100.0
#: A server whose loop answers nothing for this long is frozen, whatever the machine's load.
FREEZE_S = 2.0
#: What the server under test must be started with (besides ``--dev``): refreshes stop at
#: this limit, so a scenario against a database that never answers ends in seconds.
SERVER_ENV = {"TABHOOKS_JOB_TIMEOUT_S": "4"}
#: 2^40 macro calls: runs until the render time limit stops it (the sandbox's own clock).
FAN_OUT = (
    "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}"
)
#: pprint of a list nested by reference: pure Python the sandbox cannot meter; the worker is
#: killed at the time limit.
UNMETERED = (
    "{% set ns = namespace(l=[0]) %}{% for i in range(18) %}{% set ns.l = [ns.l, ns.l] %}"
    "{% endfor %}{{ ns.l | pprint | length }}"
)
#: The report's template: 10^10 loop passes.
NESTED_RANGES = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
TEMPLATES = (FAN_OUT, UNMETERED, NESTED_RANGES, "{{ 'a' * 200000000 }}")


@dataclass
class Target:
    """The server under test and its signed-in bootstrap admin."""

    base_url: str
    token: str = ""
    site_id: str = ""
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=120))

    @classmethod
    def sign_in(cls, base_url: str) -> Target:
        target = cls(base_url)
        answer = target.http.post(
            f"{base_url}/api/{API_VERSION}/auth/signin",
            json={
                "credentials": {
                    "name": ADMIN_USERNAME,
                    "password": ADMIN_PASSWORD,
                    "site": {"contentUrl": ""},
                }
            },
            headers={"Accept": "application/json"},
        )
        answer.raise_for_status()
        credentials = answer.json()["credentials"]
        target.token = credentials["token"]
        target.site_id = credentials["site"]["id"]
        return target

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Tableau-Auth": self.token}

    @property
    def site_url(self) -> str:
        return f"{self.base_url}/api/{API_VERSION}/sites/{self.site_id}"

    def close(self) -> None:
        self.http.close()


@dataclass
class Measured:
    """Health latencies while one operation ran, and how the operation ended."""

    name: str
    latencies_ms: list[float]
    statuses: list[int]
    outcome: str
    took_s: float

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies_ms)

    @property
    def p99_ms(self) -> float:
        return self.percentile(0.99)

    @property
    def max_ms(self) -> float:
        return max(self.latencies_ms)

    def line(self) -> str:
        verdict = "under" if self.p99_ms < TARGET_MS else "OVER"
        return (
            f"{self.name:<22} health n={len(self.latencies_ms):>4} p50={self.p50_ms:7.1f} ms "
            f"p99={self.p99_ms:7.1f} ms max={self.max_ms:7.1f} ms ({verdict} {TARGET_MS:.0f} ms "
            f"at p99) | {self.took_s:5.1f} s: {self.outcome}"
        )


class HealthPoller:
    """Asks ``/tabhooks/v1/health`` every :data:`POLL_INTERVAL_S` in a thread."""

    def __init__(self, base_url: str) -> None:
        self.url = f"{base_url}/tabhooks/v1/health"
        self.latencies_ms: list[float] = []
        self.statuses: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=120) as http:
            http.get(self.url)  # the connection is set up before the clock starts
            while not self._stop.is_set():
                started = time.perf_counter()
                try:
                    status = http.get(self.url).status_code
                except httpx.HTTPError:
                    status = 0
                self.latencies_ms.append((time.perf_counter() - started) * 1000)
                self.statuses.append(status)
                self._stop.wait(POLL_INTERVAL_S)

    def __enter__(self) -> HealthPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wait_for_answers(1)
        self._stop.set()
        self._thread.join(150)

    def wait_for_answers(self, count: int) -> None:
        """Wait until ``count`` answers are in: an instant operation still has figures."""
        deadline = time.monotonic() + 120
        while len(self.latencies_ms) < count and time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL_S)

    def report(self, what: str) -> str:
        """One line for a test's output: how many answers, their median and worst latency."""
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return f"health while {what}: no answers"
        return (
            f"health while {what}: {len(ordered)} answers, median "
            f"{statistics.median(ordered):.1f} ms, max {ordered[-1]:.1f} ms"
        )


def measure(target: Target, name: str, operation: Callable[[Target], str]) -> Measured:
    """Run ``operation`` to its end while health is polled; at least a few answers count."""
    with HealthPoller(target.base_url) as poller:
        started = time.monotonic()
        outcome = operation(target)
        took_s = time.monotonic() - started
        poller.wait_for_answers(5)
    return Measured(name, poller.latencies_ms, poller.statuses, outcome, took_s)


# ------------------------------------------------------------------------------ idle


def idle(seconds: float) -> Callable[[Target], str]:
    """Nothing at all: the machine's own noise, to read the other figures against."""

    def run(target: Target) -> str:
        time.sleep(seconds)
        return f"nothing for {seconds:g} s"

    return run


# ------------------------------------------------------------------------------ relay


def relay_renders(messages: int) -> Callable[[Target], str]:
    """``messages`` messages at once to routes whose templates run until a limit stops them.

    Each route gets its own copy of a hostile template (a nonce comment), so none is skipped
    as a template that overran before. Every message must fail its render with the limit's
    reason in the answer.
    """

    def run(target: Target) -> str:
        routes = []
        for i in range(messages):
            template = TEMPLATES[i % len(TEMPLATES)] + "{# " + uuid.uuid4().hex + " #}"
            created = target.http.post(
                f"{target.base_url}/tabhooks/v1/relays",
                json={
                    "name": f"hostile-{uuid.uuid4().hex[:8]}",
                    "targets": [
                        {"type": "http", "url": "http://127.0.0.1:9/x", "template": template}
                    ],
                },
                headers=target.headers,
            )
            assert created.status_code == 201, created.text
            routes.append(created.json()["inbound_url"])
        payload = {"event_type": "DatasourceRefreshFailed", "resource_name": "Sales"}
        with ThreadPoolExecutor(messages) as pool:
            answers = list(pool.map(lambda url: httpx.post(url, json=payload, timeout=120), routes))
        for answer in answers:
            assert answer.status_code == 202, answer.text
            (reason,) = answer.json()["errors"].values()
            assert reason.startswith("template exceeded a limit"), reason
        return f"{messages} messages each failed its render with a limit's reason"

    return run


# ------------------------------------------------------------------------------ publish


def _zipped(xml: bytes, name: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr(name, xml)
    return buffer.getvalue()


def _publish(target: Target, name: str, package: bytes) -> httpx.Response:
    body, content_type = multipart(
        [
            ("request_payload", "", "text/xml",
             f'<tsRequest><workbook name="{name}"/></tsRequest>'.encode()),
            ("tableau_workbook", f"{name}.twbx", "application/octet-stream", package),
        ]
    )  # fmt: skip
    return target.http.post(
        f"{target.site_url}/workbooks",
        content=body,
        headers={**target.headers, "Content-Type": content_type, "Accept": "application/json"},
        params={"overwrite": "true"},
    )


def hostile_publishes(elements: int, text_mb: int) -> Callable[[Target], str]:
    """Two small packages that inflate to a lot of XML, published at once: ``elements`` empty
    elements (over the element cap: refused 400) and ``text_mb`` MB of text in one element
    (under the size cap: stored)."""

    def run(target: Target) -> str:
        flood = _zipped(b"<workbook>" + b"<a/>" * elements + b"</workbook>", "flood.twb")
        prose = _zipped(
            b"<workbook><worksheets><worksheet name='Sheet 1'/></worksheets><notes>"
            + b"lorem ipsum " * (text_mb * 1024 * 1024 // 12)
            + b"</notes></workbook>",
            "prose.twb",
        )
        with ThreadPoolExecutor(2) as pool:
            refused, stored = pool.map(
                lambda job: _publish(target, *job),
                [
                    (f"flood-{uuid.uuid4().hex[:6]}", flood),
                    (f"prose-{uuid.uuid4().hex[:6]}", prose),
                ],
            )
        assert refused.status_code == 400, refused.text
        assert "TABHOOKS_MAX_WORKBOOK_ELEMENTS" in refused.text
        assert stored.status_code == 201, stored.text
        return (
            f"{len(flood) // 1024} KB inflating to {elements:,} elements refused 400; "
            f"{len(prose) // 1024} KB inflating to {text_mb} MB stored"
        )

    return run


# ------------------------------------------------------------------------------ refresh


@contextmanager
def black_hole() -> Iterator[int]:
    """A "database" on 127.0.0.1 that accepts connections and never answers; its port."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    listener.settimeout(0.1)
    stop = threading.Event()
    clients: list[socket.socket] = []

    def accept() -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            clients.append(client)

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        listener.close()
        for client in clients:
            client.close()


def _job(target: Target, job_id: str) -> ET.Element:
    answer = target.http.get(f"{target.site_url}/jobs/{job_id}", headers=target.headers)
    answer.raise_for_status()
    job = ET.fromstring(answer.content).find("t:job", NS)
    assert job is not None, answer.text
    return job


def slow_refreshes(count: int, port: int) -> Callable[[Target], str]:
    """``count`` refreshes at once of data sources whose PostgreSQL host accepts and never
    answers: each must fail with "timed out" (the server runs with :data:`SERVER_ENV`)."""

    def run(target: Target) -> str:
        connection = connection_xml(
            "postgres", server="127.0.0.1", port=str(port), dbname="x", username="u"
        )
        job_ids = []
        for _ in range(count):
            name = f"slow-{uuid.uuid4().hex[:8]}"
            body, content_type = multipart(
                [
                    ("request_payload", "", "text/xml",
                     f'<tsRequest><datasource name="{name}"/></tsRequest>'.encode()),
                    ("tableau_datasource", f"{name}.tds", "application/octet-stream",
                     datasource_xml(connection, name)),
                ]
            )  # fmt: skip
            published = target.http.post(
                f"{target.site_url}/datasources",
                content=body,
                headers={**target.headers, "Content-Type": content_type},
            )
            assert published.status_code == 201, published.text
            source = ET.fromstring(published.content).find("t:datasource", NS)
            assert source is not None
            refreshed = target.http.post(
                f"{target.site_url}/datasources/{source.get('id')}/refresh",
                content="<tsRequest/>",
                headers=target.headers,
            )
            assert refreshed.status_code == 202, refreshed.text
            job = ET.fromstring(refreshed.content).find("t:job", NS)
            assert job is not None
            job_ids.append(str(job.get("id")))
        notes = []
        deadline = time.monotonic() + 120
        for job_id in job_ids:
            while (job := _job(target, job_id)).get("finishCode") is None:
                assert time.monotonic() < deadline, f"job {job_id} never finished"
                time.sleep(0.1)
            assert job.get("finishCode") == "1", ET.tostring(job)
            notes.append(job.findtext("t:extractRefreshJob/t:notes", "", NS))
        assert all("timed out" in note for note in notes), notes
        return f"{count} refreshes failed 'timed out' against a database that never answers"

    return run


# ------------------------------------------------------------------------------ bins


def bin_flood(seconds: float, views: int, senders: int, body_kb: int) -> Callable[[Target], str]:
    """A bin watched by ``views`` live views and flooded for ``seconds`` by ``senders``
    senders of ``body_kb`` KB JSON bodies: the views must receive cards, the senders only
    200 (captured) or 429 (over the bin's rate)."""

    def run(target: Target) -> str:
        created = target.http.post(
            f"{target.base_url}/tabhooks/v1/inbox/bins",
            json={"max_requests": 500},
            headers=target.headers,
        )
        assert created.status_code == 201, created.text
        made = created.json()
        cards = [0] * views
        opened = threading.Barrier(views + 1)
        stop = threading.Event()

        def watch(index: int) -> None:
            with (
                httpx.Client(timeout=httpx.Timeout(30, read=5)) as client,
                client.stream("GET", f"{made['ui_url']}/stream") as stream,
            ):
                assert stream.status_code == 200
                opened.wait()
                try:
                    for line in stream.iter_lines():
                        if line.startswith("event: request"):
                            cards[index] += 1
                        if stop.is_set():
                            return
                except httpx.ReadTimeout:
                    return

        body = json.dumps({"pad": ["x" * 100] * (body_kb * 10)}).encode()
        statuses: dict[int, int] = {}

        def send() -> None:
            with httpx.Client(timeout=60) as client:
                end = time.monotonic() + seconds
                while time.monotonic() < end:
                    status = client.post(made["url"], content=body).status_code
                    statuses[status] = statuses.get(status, 0) + 1

        watchers = [threading.Thread(target=watch, args=(i,), daemon=True) for i in range(views)]
        for thread in watchers:
            thread.start()
        opened.wait(30)
        with ThreadPoolExecutor(senders) as pool:
            for _ in range(senders):
                pool.submit(send)
        time.sleep(1.5)  # the views catch up with the last look
        stop.set()
        for thread in watchers:
            thread.join(30)
        assert set(statuses) <= {200, 429}, statuses
        assert statuses.get(200), statuses
        assert all(cards), cards
        return (
            f"{sum(statuses.values())} requests of {len(body) // 1024} KB "
            f"({statuses.get(200, 0)} captured, {statuses.get(429, 0)} refused 429); "
            f"{views} live views got {min(cards, default=0)}-{max(cards, default=0)} cards"
        )

    return run
