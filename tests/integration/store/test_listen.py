"""The store's one LISTEN loop: every channel a process listens on shares one connection,
each notification reaches the subscribers of its channel, and subscribers hear when they are
connected (so they can catch up); on SQLite a subscriber is connected at once and hears
nothing."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from tests.integration.conftest import Seeded


async def _notify(seeded: Seeded, channel: str, payload: str) -> None:
    async with seeded.store.write() as conn:
        await conn.execute(text("SELECT pg_notify(:c, :p)"), {"c": channel, "p": payload})


async def _until(check: object, timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "not heard in time"
        await asyncio.sleep(0.02)


@pytest.mark.postgres
async def test_channels_share_one_connection_and_hear_only_their_own(
    seeded: Seeded, backend: str
) -> None:
    if backend != "postgres":
        pytest.skip("PostgreSQL only")
    store = seeded.store
    heard: dict[str, list[str]] = {"alpha": [], "beta": []}
    connects: list[str] = []
    async with (
        store.listen(
            "tabhooks_test_alpha",
            heard["alpha"].append,
            on_connect=lambda: connects.append("alpha"),
        ),
        store.listen(
            "tabhooks_test_beta",
            heard["beta"].append,
            on_connect=lambda: connects.append("beta"),
        ),
    ):
        assert "alpha" in connects and "beta" in connects
        async with store.read() as conn:
            listening = (
                await conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND query LIKE 'LISTEN %'"
                    )
                )
            ).scalar_one()
        assert listening == 1  # one connection for both channels
        await _notify(seeded, "tabhooks_test_alpha", "a1")
        await _notify(seeded, "tabhooks_test_beta", "b1")
        await _until(lambda: heard["alpha"] == ["a1"] and heard["beta"] == ["b1"])
    await _notify(seeded, "tabhooks_test_alpha", "after")
    await asyncio.sleep(0.2)
    assert heard["alpha"] == ["a1"]  # nobody listens once the blocks are left


async def test_listening_on_sqlite_connects_at_once_and_hears_nothing(
    seeded: Seeded, backend: str
) -> None:
    """One process owns an SQLite store: a subscriber is up to date from the start (so, for
    one, the session cache is trusted) and is told when it stops listening."""
    if backend != "sqlite":
        pytest.skip("SQLite only")
    told: list[str] = []
    async with seeded.store.listen(
        "anything",
        lambda payload: told.append(f"heard {payload}"),
        on_connect=lambda: told.append("connected"),
        on_disconnect=lambda: told.append("disconnected"),
    ):
        assert told == ["connected"]
    assert told == ["connected", "disconnected"]
