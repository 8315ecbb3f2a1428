"""A refresh's PostgreSQL probe against real sockets: the failures that take a timeout or a
missing credential, which the acceptance tests leave out for speed."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

from tabhooks.jobs.connect import _postgres
from tabhooks.jobs.offload import Offload
from tabhooks.jobs.reach import ReachPolicy
from tabhooks.models import Connection

POLICY = ReachPolicy(file_roots=(), connect_timeout_s=2)


def _connection(port: int, *, password: str = "", embed: bool = False) -> Connection:
    return Connection(
        id="c", content_id="x", type="postgres", server_address="127.0.0.1",
        server_port=str(port), dbname="d", filename="", username="u", password=password,
        embed_password=embed, query_tagging=False,
    )  # fmt: skip


@pytest.fixture
def offload() -> Iterator[Offload]:
    threads = Offload(2)
    yield threads
    threads.close()


@pytest.fixture
def black_hole() -> Iterator[int]:
    """Accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


async def test_a_host_that_never_answers_is_timed_out(black_hole: int, offload: Offload) -> None:
    probe = await _postgres(_connection(black_hole), POLICY, offload)
    assert not probe.ok
    assert probe.note == "postgres://127.0.0.1: timed out"


async def test_the_servers_own_pgpassword_is_never_sent(
    monkeypatch: pytest.MonkeyPatch, postgres_admin_url: str, offload: Offload
) -> None:
    """Without an embedded password, libpq must not fall back to PGPASSWORD (or ~/.pgpass)
    of the server's environment: the Creator chose the host, and would receive it."""
    from sqlalchemy.engine import make_url

    url = make_url(postgres_admin_url)
    monkeypatch.setenv("PGPASSWORD", "the-servers-own-secret")
    probe = await _postgres(
        Connection(
            id="c", content_id="x", type="postgres", server_address=url.host or "127.0.0.1",
            server_port=str(url.port or 5432), dbname="postgres", filename="",
            username="nobody_with_a_password", password="", embed_password=False,
            query_tagging=False,
        ),
        POLICY,
        offload,
    )  # fmt: skip
    assert not probe.ok
    assert probe.note.endswith(": authentication failed (no password embedded)"), probe.note
    assert os.environ["PGPASSWORD"] not in probe.note
    # Before the fix libpq took PGPASSWORD, sent it, and the note was the server's own
    # "password authentication failed for user ..." text.
