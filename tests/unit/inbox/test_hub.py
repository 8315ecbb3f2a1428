"""The hub's per-watcher queue is bounded: a watcher that never reads loses hints, never
memory, and other watchers still get theirs."""

from __future__ import annotations

import asyncio

from tabhooks.inbox.hub import InboxHub


def test_a_watcher_that_never_reads_holds_a_bounded_number_of_hints() -> None:
    async def main() -> tuple[int, int, int]:
        hub = InboxHub()
        with hub.subscribe("bin") as stuck, hub.subscribe("bin") as reader:
            got = 0
            for _ in range(10_000):
                hub.publish("bin", "request")
                while not reader.empty():
                    reader.get_nowait()
                    got += 1
            return stuck.qsize(), got, hub.watching("bin")

    pending, delivered, watching = asyncio.run(main())
    assert pending == 16
    assert delivered == 10_000
    assert watching == 2


def test_leaving_unsubscribes() -> None:
    hub = InboxHub()
    with hub.subscribe("bin"):
        assert hub.watching("bin") == 1
    assert hub.watching("bin") == 0
    hub.publish("bin", "request")  # nobody watching: nothing kept
