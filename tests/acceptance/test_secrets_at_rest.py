"""Secrets at rest (#13): a copied store reveals no secret, and the server works as before.

A real server gets a webhook signing secret, a relay route with a signing secret, a Slack URL
carrying its token, an Authorization header and an enrichment PAT, an inbox bin secret and a
data source's embedded password. Then every row of every table of the store is searched for
each of them (and, on SQLite, the raw bytes of the database file and its write-ahead log),
while the API still shows the secrets to the admin and deliveries still verify with the
``standardwebhooks`` library. The SQLite files and the key file are private (0600); a restart
with the same key works; rotating to a new key re-encrypts everything; a wrong key or, on
PostgreSQL, no key stops the server with one clear line; a store written before encryption
(secrets in clear) is sealed at start-up.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import tableauserverclient as TSC
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy.engine import make_url
from standardwebhooks.webhooks import Webhook as StandardWebhook

from tests.acceptance.test_delivery import Client
from tests.conftest import database_url_for
from tests.support import databases
from tests.support.receiver import Receiver
from tests.support.server import (
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    TEST_SECRET_KEY,
    ServerProcess,
    store_env,
)
from tests.support.tableau_samples import connection_xml, datasource_xml

SEALED_PREFIX = "sealed:v1:"
#: Where each secret lives: (table, column) of the columns tabhooks seals.
SEALED_COLUMNS = {
    ("webhook_secrets", "secret"),
    ("relay_routes", "signing_secret"),
    ("relay_routes", "enrich_pat_secret"),
    ("relay_targets", "url"),
    ("relay_targets", "headers"),
    ("inbox_bins", "signing_secret"),
    ("connections", "password"),
}
HTTP_TEMPLATE = '{"what": {{ event.resource_name | tojson }}}'


def _whsec() -> str:
    return "whsec_" + secrets.token_urlsafe(32).replace("-", "A").replace("_", "B") + "="


@dataclass
class Planted:
    """The secrets given to a server, and where they went."""

    webhook_secret: str = field(default_factory=_whsec)
    relay_secret: str = field(default_factory=_whsec)
    bin_secret: str = field(default_factory=_whsec)
    slack_token: str = field(default_factory=lambda: "slacktoken" + secrets.token_hex(12))
    bearer: str = field(default_factory=lambda: "bearer" + secrets.token_hex(12))
    pat_secret: str = field(default_factory=lambda: "patsecret" + secrets.token_hex(12))
    first_password: str = field(default_factory=lambda: "pw" + secrets.token_hex(12))
    password: str = field(default_factory=lambda: "pw" + secrets.token_hex(12))
    webhook_id: str = ""
    route: dict[str, Any] = field(default_factory=dict)
    bin: dict[str, Any] = field(default_factory=dict)

    def plaintexts(self) -> dict[str, str]:
        return {
            "webhook secret": self.webhook_secret,
            # Without "whsec_": the key bytes are what must not leak.
            "webhook secret key": self.webhook_secret.removeprefix("whsec_"),
            "relay signing secret": self.relay_secret.removeprefix("whsec_"),
            "bin secret": self.bin_secret.removeprefix("whsec_"),
            "slack token": self.slack_token,
            "authorization header": self.bearer,
            "enrichment PAT secret": self.pat_secret,
            "first connection password": self.first_password,
            "connection password": self.password,
        }


@dataclass
class Receivers:
    hook: Receiver
    slack: Receiver
    http: Receiver


@pytest.fixture
def receivers() -> Iterator[Receivers]:
    started = Receivers(Receiver().start(), Receiver().start(), Receiver().start())
    yield started
    for receiver in (started.hook, started.slack, started.http):
        receiver.stop()


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask, under which SQLite would create 0644 files."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def _start(url: str, workdir: Path, **env: str) -> ServerProcess:
    return ServerProcess(url, workdir, extra_env=env).start()


# ----------------------------------------------------------------------------- planting


def _plant(server: ServerProcess, receivers: Receivers, tmp_path: Path) -> Planted:
    planted = Planted()
    client = Client(server)
    planted.webhook_id = client.create_webhook("sealed", receivers.hook.url)
    given = httpx.post(
        f"{client.ops}/webhooks/{planted.webhook_id}/secret",
        json={"secret": planted.webhook_secret},
        headers=client.headers,
    )
    assert given.status_code == 201, given.text
    relays = f"{server.base_url}/tabhooks/v1/relays"
    route = httpx.post(
        relays,
        json={
            "name": "sealed route",
            "signing_secret": planted.relay_secret,
            "targets": [
                {"type": "slack", "url": f"{receivers.slack.url}/T0/B0/{planted.slack_token}"},
                {
                    "type": "http",
                    "url": receivers.http.url,
                    "headers": {"Authorization": f"Bearer {planted.bearer}"},
                    "template": HTTP_TEMPLATE,
                },
            ],
        },
        headers=client.headers,
    )
    assert route.status_code == 201, route.text
    planted.route = route.json()
    enriching = httpx.post(
        relays,
        json={
            "name": "enriching route",
            "targets": [{"type": "http", "url": "http://127.0.0.1:9/never"}],
            "enrich_with": {
                "server": "http://127.0.0.1:9",
                "site": "",
                "pat_name": "relay-pat",
                "pat_secret": planted.pat_secret,
            },
        },
        headers=client.headers,
    )
    assert enriching.status_code == 201, enriching.text
    made = httpx.post(
        f"{server.base_url}/tabhooks/v1/inbox/bins",
        json={"name": "sealed bin", "signing_secret": planted.bin_secret},
        headers=client.headers,
    )
    assert made.status_code == 201, made.text
    planted.bin = made.json()
    _publish_with_password(server, planted, tmp_path)
    return planted


def _publish_with_password(server: ServerProcess, planted: Planted, tmp_path: Path) -> None:
    """A data source with an embedded password, which is then changed (both must stay sealed)."""
    tsc = TSC.Server(server.base_url, use_server_version=True)
    with tsc.auth.sign_in(TSC.TableauAuth(ADMIN_USERNAME, ADMIN_PASSWORD, site_id="")):
        options = TSC.RequestOptions()
        options.filter.add(TSC.Filter("name", "eq", "Default"))
        project_id = tsc.projects.get(options)[0][0].id
        path = tmp_path / "Warehouse.tds"
        path.write_bytes(
            datasource_xml(
                connection_xml("postgres", server="db.example", dbname="dw", username="etl"),
                "Warehouse",
            )
        )
        datasource = tsc.datasources.publish(
            TSC.DatasourceItem(project_id, name="Warehouse"),
            str(path),
            TSC.Server.PublishMode.CreateNew,
            connection_credentials=TSC.ConnectionCredentials(
                "etl", planted.first_password, embed=True
            ),
        )
        tsc.datasources.populate_connections(datasource)
        (connection,) = datasource.connections
        connection.password, connection.embed_password = planted.password, True
        tsc.datasources.update_connection(datasource, connection)


# ----------------------------------------------------------------------------- using them


def _check_secrets_still_work(
    server: ServerProcess, planted: Planted, receivers: Receivers
) -> None:
    """The API shows the secrets as before and every signature verifies."""
    client = Client(server)
    shown = httpx.get(f"{client.ops}/webhooks/{planted.webhook_id}/secret", headers=client.headers)
    assert shown.status_code == 200 and shown.json()["current"] == planted.webhook_secret
    bin_url = f"{server.base_url}/tabhooks/v1/inbox/bins/{planted.bin['id']}"
    assert httpx.get(bin_url, headers=client.headers).json()["signing_secret"] == planted.bin_secret
    route = httpx.get(
        f"{server.base_url}/tabhooks/v1/relays/{planted.route['id']}", headers=client.headers
    ).json()
    slack, http = route["targets"]
    assert slack["url"].endswith(planted.slack_token)
    assert http["headers"] == {"Authorization": f"Bearer {planted.bearer}"}

    before = len(receivers.hook.requests)
    client.fire("WorkbookCreated", "Sealed Workbook")
    delivered = receivers.hook.wait_for(before + 1)[before]
    assert StandardWebhook(planted.webhook_secret).verify(delivered.body, delivered.headers)

    before_http, before_slack = len(receivers.http.requests), len(receivers.slack.requests)
    payload = {"event_type": "WorkbookCreated", "resource": "WORKBOOK", "resource_name": "Q3"}
    inbound = f"{server.base_url}/relay/{planted.route['id']}"  # the port changes on restart
    assert httpx.post(inbound, json=payload).json()["queued"] == 2
    relayed = receivers.http.wait_for(before_http + 1)[before_http]
    assert StandardWebhook(planted.relay_secret).verify(relayed.body, relayed.headers) == {
        "what": "Q3"
    }
    assert relayed.headers["authorization"] == f"Bearer {planted.bearer}"
    to_slack = receivers.slack.wait_for(before_slack + 1)[before_slack]
    assert to_slack.path.endswith(planted.slack_token)

    body = json.dumps({"type": "check"}).encode()
    now = datetime.now(UTC)
    headers = {
        "webhook-id": "msg_sealed",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": StandardWebhook(planted.bin_secret).sign("msg_sealed", now, body),
    }
    bin_inbox = f"{server.base_url}/inbox/{planted.bin['id']}"
    httpx.post(bin_inbox, content=body, headers=headers).raise_for_status()
    captured = httpx.get(f"{bin_url}/requests", headers=client.headers).json()["requests"][0]
    assert captured["signature"] == "valid"


# ----------------------------------------------------------------------------- reading the store


def _stored(database_url: str) -> list[tuple[str, str, Any]]:
    """Every value of every column of every row of every table: (table, column, value)."""
    found: list[tuple[str, str, Any]] = []
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        with closing(sqlite3.connect(f"file:{url.database}?mode=ro", uri=True)) as conn:
            tables = [
                name
                for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            ]
            for table in tables:
                cursor = conn.execute(f'SELECT * FROM "{table}"')
                names = [d[0] for d in cursor.description]
                found += [(table, n, v) for row in cursor for n, v in zip(names, row, strict=True)]
        return found
    plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain) as conn:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
            )
        ]
        for table in tables:
            cursor = conn.execute(f'SELECT * FROM "{table}"')
            names = [d.name for d in cursor.description or ()]
            found += [(table, n, v) for row in cursor for n, v in zip(names, row, strict=True)]
    return found


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode()


def _assert_nothing_in_clear(database_url: str, planted: Planted) -> None:
    stored = _stored(database_url)
    assert len(stored) > 100  # the scan really read the store
    leaks = [
        (what, table, column)
        for what, secret in planted.plaintexts().items()
        for table, column, value in stored
        if value is not None and secret.encode() in _as_bytes(value)
    ]
    assert leaks == []
    sealed = {(t, c) for t, c, v in stored if isinstance(v, str) and v.startswith(SEALED_PREFIX)}
    assert sealed == SEALED_COLUMNS  # every kind of secret was stored, sealed
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        database = Path(str(url.database))
        for path in (database, database.with_name(database.name + "-wal")):
            if path.exists():
                raw = path.read_bytes()
                found = [w for w, s in planted.plaintexts().items() if s.encode() in raw]
                assert found == [], f"{path.name} holds {found} in clear"


def _sealed_values(database_url: str) -> list[str]:
    return [
        v
        for t, c, v in _stored(database_url)
        if (t, c) in SEALED_COLUMNS and isinstance(v, str) and v.startswith(SEALED_PREFIX)
    ]


def _opens_with(key: str, sealed: str) -> bool:
    try:
        Fernet(key).decrypt(sealed.removeprefix(SEALED_PREFIX))
    except InvalidToken:
        return False
    return True


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _key_file(database_url: str) -> Path:
    return Path(str(make_url(database_url).database)).with_suffix(".key")


def _first_key(database_url: str) -> str:
    """The key a fresh store of the suite seals with: its key file's, or PostgreSQL's test key."""
    if make_url(database_url).get_backend_name() == "sqlite":
        return _key_file(database_url).read_text().split()[0]
    return TEST_SECRET_KEY


# ----------------------------------------------------------------------------- tests


def test_secrets_are_sealed_in_the_store_and_work_after_a_restart(
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    receivers: Receivers,
    umask_022: None,
) -> None:
    url = database_url_for(backend, request, tmp_path)
    server = _start(url, tmp_path)
    try:
        planted = _plant(server, receivers, tmp_path)
        _check_secrets_still_work(server, planted, receivers)
        _assert_nothing_in_clear(url, planted)
        if backend == "sqlite":
            database = Path(str(make_url(url).database))
            files = [database, *(database.with_name(database.name + s) for s in ("-wal", "-shm"))]
            assert {f.name: _mode(f) for f in files} == {f.name: 0o600 for f in files}
            assert _mode(_key_file(url)) == 0o600
        key = _first_key(url)
        assert all(key not in line for line in server.output)  # never logged
    finally:
        server.stop()
    again = _start(url, tmp_path)
    try:
        _check_secrets_still_work(again, planted, receivers)
    finally:
        again.stop()


def test_rotation_re_encrypts_every_secret_and_a_wrong_key_stops_the_server(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, receivers: Receivers
) -> None:
    url = database_url_for(backend, request, tmp_path)
    server = _start(url, tmp_path)
    try:
        planted = _plant(server, receivers, tmp_path)
    finally:
        server.stop()
    old, new = _first_key(url), Fernet.generate_key().decode()
    assert all(_opens_with(old, value) for value in _sealed_values(url))

    # 1. the new key first, the old one after it; restart: both open, the new one seals.
    both = {"TABHOOKS_SECRET_KEY": f"{new},{old}"}
    server = _start(url, tmp_path, **both)
    try:
        _check_secrets_still_work(server, planted, receivers)
        # 2. re-encrypt (a live server meanwhile holds both keys, so nothing breaks).
        rotated = _admin(url, both, "rotate-key")
        assert rotated.returncode == 0, rotated.stderr
        assert "Re-encrypted" in rotated.stdout and "remove them" in rotated.stdout
        count = len(_sealed_values(url))
        assert f"Re-encrypted {count} stored secret(s)" in rotated.stdout
        _check_secrets_still_work(server, planted, receivers)
    finally:
        server.stop()
    values = _sealed_values(url)
    assert values and all(_opens_with(new, v) and not _opens_with(old, v) for v in values)
    again = _admin(url, both, "rotate-key")
    assert again.returncode == 0 and "Re-encrypted 0 stored secret(s)" in again.stdout
    _assert_nothing_in_clear(url, planted)

    # 3. the old key dropped.
    server = _start(url, tmp_path, TABHOOKS_SECRET_KEY=new)
    try:
        _check_secrets_still_work(server, planted, receivers)
    finally:
        server.stop()

    # A key that opens nothing (the old one alone, say) stops the server with one line.
    with pytest.raises(RuntimeError) as refused:
        _start(url, tmp_path, TABHOOKS_SECRET_KEY=old)
    output = str(refused.value)
    assert "stored secrets do not open with the key(s) in TABHOOKS_SECRET_KEY" in output
    assert old not in output and new not in output and "Traceback" not in output
    failed = _admin(url, {"TABHOOKS_SECRET_KEY": old}, "rotate-key")
    assert failed.returncode == 1 and "do not open" in failed.stderr and old not in failed.stderr


def test_a_store_written_before_encryption_is_sealed_at_start_up(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, receivers: Receivers
) -> None:
    url = database_url_for(backend, request, tmp_path)
    server = _start(url, tmp_path)
    try:
        planted = _plant(server, receivers, tmp_path)
    finally:
        server.stop()
    key = _first_key(url)
    _unseal_in_place(url, key)  # what the previous version stored: secrets in clear
    in_clear = {t_c for t_c in SEALED_COLUMNS if any(t_c == (t, c) for t, c, _ in _clear(url))}
    assert in_clear == SEALED_COLUMNS

    server = _start(url, tmp_path)
    try:
        assert _clear(url) == []
        _assert_nothing_in_clear(url, planted)
        _check_secrets_still_work(server, planted, receivers)
    finally:
        server.stop()


def _clear(database_url: str) -> list[tuple[str, str, Any]]:
    """Values of sealed columns that are stored in clear."""
    return [
        (t, c, v)
        for t, c, v in _stored(database_url)
        if (t, c) in SEALED_COLUMNS and v is not None and not str(v).startswith(SEALED_PREFIX)
    ]


def _unseal_in_place(database_url: str, key: str) -> None:
    """Replace every sealed value by its plaintext, straight in the database."""
    fernet = Fernet(key)
    url = make_url(database_url)
    statements = [
        (
            f'UPDATE "{table}" SET "{column}" = %s WHERE "{column}" = %s',
            (fernet.decrypt(v.removeprefix(SEALED_PREFIX)).decode(), v),
        )
        for table, column in sorted(SEALED_COLUMNS)
        for t, c, v in _stored(database_url)
        if (t, c) == (table, column) and isinstance(v, str) and v.startswith(SEALED_PREFIX)
    ]
    if url.get_backend_name() == "sqlite":
        with closing(sqlite3.connect(str(url.database))) as conn, conn:
            for sql, params in statements:
                conn.execute(sql.replace("%s", "?"), params)
        return
    plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain) as conn:
        for sql, params in statements:
            conn.execute(sql, params)  # type: ignore[arg-type]


def test_postgres_needs_a_configured_key(postgres_admin_url: str, tmp_path: Path) -> None:
    url = databases.new_postgres_url(postgres_admin_url)
    with pytest.raises(RuntimeError) as refused:
        _start(url, tmp_path, TABHOOKS_SECRET_KEY="")
    output = str(refused.value)
    assert "Error: a PostgreSQL store needs TABHOOKS_SECRET_KEY" in output
    assert "Traceback" not in output
    assert not list(tmp_path.glob("*.key"))  # nothing was invented


def test_key_file_setting_and_private_files(
    tmp_path: Path, receivers: Receivers, umask_022: None
) -> None:
    url = databases.new_sqlite_url(tmp_path)
    key_file = tmp_path / "config" / "tabhooks.secret"
    server = _start(url, tmp_path, TABHOOKS_SECRET_KEY_FILE=str(key_file))
    try:
        planted = _plant(server, receivers, tmp_path)
        assert _mode(key_file) == 0o600 and not _key_file(url).exists()
        key = key_file.read_text().strip()
        assert all(_opens_with(key, v) for v in _sealed_values(url))
        assert str(key_file) in "".join(server.output) and key not in "".join(server.output)
    finally:
        server.stop()
    server = _start(url, tmp_path, TABHOOKS_SECRET_KEY_FILE=str(key_file))
    try:
        _check_secrets_still_work(server, planted, receivers)
    finally:
        server.stop()


def _admin(database_url: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TABHOOKS_")}
    environ["TABHOOKS_DATABASE_URL"] = database_url
    environ.update(store_env(database_url))
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "tabhooks", "admin", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_generate_key_prints_a_usable_key() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tabhooks", "admin", "generate-key"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    key = result.stdout.strip()
    assert result.stdout == key + "\n"
    assert Fernet(key).decrypt(Fernet(key).encrypt(b"x")) == b"x"
