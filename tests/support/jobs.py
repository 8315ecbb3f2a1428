"""What the job, schedule and refresh tests set up alike: a signed-in TSC client whose site
sends refresh events to a receiver, data sources published with a given connection (one that
hangs at a :class:`~tests.support.listeners.CountingListener`, one that works, one that
fails), waits for events and for jobs, and real ``tabhooks worker`` processes.

Waits poll often and give up after :data:`WAIT_S`: TSC's own ``wait_for_job`` backs off to
seconds between looks, and a test should fail with what it waited for, not hang.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import tableauserverclient as TSC
from sqlalchemy.engine import make_url

from tests.conftest import database_url_for
from tests.support.listeners import CountingListener
from tests.support.receiver import Receiver
from tests.support.server import (
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    ServerProcess,
    spawn,
    store_env,
)
from tests.support.tableau_samples import connection_xml, datasource_xml

#: How long a wait for a job, an event or a worker lasts before the test fails.
WAIT_S = 60.0

#: The events of a data source's refresh, in the order a successful or failed one fires them.
DATASOURCE_REFRESH_EVENTS = (
    "DatasourceRefreshStarted",
    "DatasourceRefreshSucceeded",
    "DatasourceRefreshFailed",
)


def serving(
    backend: str,
    request: pytest.FixtureRequest,
    workdir: Path,
    env: Mapping[str, str],
    args: tuple[str, ...] = ("--dev",),
) -> Iterator[ServerProcess]:
    """A server on a fresh store of ``backend``, for a fixture to ``yield from``."""
    running = ServerProcess(database_url_for(backend, request, workdir), workdir, env, args)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def warehouse(postgres_admin_url: str, prefix: str) -> dict[str, str]:
    """A fresh PostgreSQL database owned by a fresh password-protected role, for data sources
    to point at: the connection fields (host, port, dbname, user, password)."""
    suffix = uuid.uuid4().hex[:8]
    role, password, dbname = f"{prefix}_{suffix}", "right-password", f"{prefix}_{suffix}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        conn.execute(f"CREATE DATABASE {dbname} OWNER {role}")
    url = make_url(postgres_admin_url)
    return {
        "host": url.host or "127.0.0.1",
        "port": str(url.port or 5432),
        "dbname": dbname,
        "user": role,
        "password": password,
    }


def receiving() -> Iterator[Receiver]:
    """A webhook receiver, for a fixture to ``yield from``."""
    running = Receiver().start()
    try:
        yield running
    finally:
        running.stop()


def signed_in(
    base_url: str,
    site: str = "",
    receiver: Receiver | None = None,
    events: Iterable[str] = DATASOURCE_REFRESH_EVENTS,
) -> TSC.Server:
    """The bootstrap administrator, signed in to ``site`` (its content URL; "" is Default).

    Args:
        receiver: If given, the site gets a webhook per event of ``events`` posting to it.
    """
    tsc = TSC.Server(base_url, use_server_version=True)
    tsc.auth.sign_in(TSC.TableauAuth(ADMIN_USERNAME, ADMIN_PASSWORD, site_id=site))
    if receiver is None:
        return tsc
    for event in events:
        body = (
            f'<tsRequest><webhook name="{event}-{uuid.uuid4().hex[:8]}" event="{event}">'
            f'<webhook-destination><webhook-destination-http method="POST" url="{receiver.url}"/>'
            "</webhook-destination></webhook></tsRequest>"
        )
        httpx.post(
            f"{tsc.baseurl}/sites/{tsc.site_id}/webhooks",
            content=body,
            headers={"X-Tableau-Auth": tsc.auth_token},
        ).raise_for_status()
    return tsc


def default_project(tsc: TSC.Server) -> str:
    """The id of the site's Default project, where the tests publish."""
    options = TSC.RequestOptions()
    options.filter.add(TSC.Filter("name", "eq", "Default"))
    return str(tsc.projects.get(options)[0][0].id)


def publish_datasource(
    tsc: TSC.Server,
    folder: Path,
    connection: str | bytes,
    credentials: tuple[str, str] | None = None,
) -> TSC.DatasourceItem:
    """A new data source, under a fresh name, in the Default project.

    Args:
        folder: Where the .tds file is written before it is published.
        connection: One ``<connection>`` element (see
            :func:`~tests.support.tableau_samples.connection_xml`), or a whole .tds file.
        credentials: A user name and password to embed, if any.
    """
    name = f"ds-{uuid.uuid4().hex[:8]}"
    path = folder / f"{name}.tds"
    path.write_bytes(
        connection if isinstance(connection, bytes) else datasource_xml(connection, name)
    )
    embedded = TSC.ConnectionCredentials(*credentials, embed=True) if credentials else None
    item = TSC.DatasourceItem(default_project(tsc), name=name)
    return tsc.datasources.publish(
        item, str(path), TSC.Server.PublishMode.CreateNew, connection_credentials=embedded
    )


def hanging_connection(listener: CountingListener, dbname: str = "x") -> str:
    """A PostgreSQL connection to ``listener``: with a ``silent`` one, a database that hangs."""
    return connection_xml(
        "postgres", server=listener.host, port=str(listener.port), dbname=dbname, username="u"
    )


def csv_file(folder: Path) -> Path:
    """A fresh, readable CSV file in ``folder`` (delete it, and its refresh fails)."""
    data = folder / f"{uuid.uuid4().hex}.csv"
    data.write_text("id,amount\n1,2\n")
    return data


def textscan(path: Path) -> str:
    """A connection reading the text file ``path``."""
    return connection_xml("textscan", filename=str(path))


def wait_until(what: str, check: Callable[[], object], timeout_s: float = WAIT_S) -> None:
    """Return once ``check()`` is true; fail naming ``what`` if it is not within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} never happened")


def payloads_for(receiver: Receiver, luid: str) -> list[dict[str, Any]]:
    """Payloads delivered to ``receiver`` for the resource ``luid``, in the order they were
    emitted.

    Not in arrival order: each event goes to its own webhook, and the dispatcher sends
    deliveries side by side, so a Failed can arrive before the Started emitted a few
    milliseconds earlier. The order is the event's ``created_at`` (to the second), then the
    delivery id in ``webhook-id``, which starts with the millisecond it was made.
    """
    found = []
    for request in list(receiver.requests):
        payload = json.loads(request.body)
        if payload.get("resource_luid") == luid:
            emitted = (payload["created_at"], request.headers.get("webhook-id", ""))
            found.append((emitted, payload))
    return [payload for _, payload in sorted(found, key=lambda item: item[0])]


def events_for(receiver: Receiver, luid: str) -> list[str]:
    """Event types delivered to ``receiver`` for the resource ``luid``, in the order they
    were emitted (see :func:`payloads_for`)."""
    return [payload["event_type"] for payload in payloads_for(receiver, luid)]


def wait_payloads(
    receiver: Receiver, luid: str, count: int, timeout_s: float = WAIT_S
) -> list[dict[str, Any]]:
    """The payloads for ``luid`` (see :func:`payloads_for`) once there are ``count``."""
    wait_until(
        f"{count} events for {luid}",
        lambda: len(payloads_for(receiver, luid)) >= count,
        timeout_s=timeout_s,
    )
    return payloads_for(receiver, luid)


def wait_events(receiver: Receiver, luid: str, count: int) -> list[str]:
    """The events for ``luid`` once there are at least ``count`` of them."""
    return [payload["event_type"] for payload in wait_payloads(receiver, luid, count)]


def wait_finished(tsc: TSC.Server, job_id: str) -> TSC.JobItem:
    """The job once it has completed (succeeded, failed or been cancelled)."""
    wait_until(f"job {job_id} finishing", lambda: tsc.jobs.get_by_id(job_id).completed_at)
    return tsc.jobs.get_by_id(job_id)


_READY = re.compile(r"tabhooks worker (\S+) delivering")


@dataclass
class Worker(ServerProcess):
    """A real ``python -m tabhooks worker`` (dispatcher, job runner and scheduler) on the same
    store as a server; ``stop()`` and ``kill()`` as for the server."""

    ready: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Worker:
        """Start the process; :meth:`wait_ready` waits for it (start several, then wait)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("TABHOOKS_")}
        env.update(TABHOOKS_DATABASE_URL=self.database_url, TABHOOKS_DEV="true")
        env.update(PYTHONUNBUFFERED="1", **store_env(self.database_url), **self.extra_env)
        self.process = spawn(("worker",), self.workdir, env)
        threading.Thread(target=self._pump_until_ready, daemon=True).start()
        return self

    def _pump_until_ready(self) -> None:
        assert self.process and self.process.stdout
        for line in self.process.stdout:
            self.output.append(line)
            if _READY.search(line):
                self.ready.set()
        self.ready.set()

    def wait_ready(self) -> Worker:
        if not self.ready.wait(WAIT_S) or self.process is None or self.process.poll() is not None:
            raise RuntimeError("tabhooks worker did not start:\n" + "".join(self.output))
        return self
