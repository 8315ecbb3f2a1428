"""Places for live views: per bin, per address and in all; given back exactly once."""

from __future__ import annotations

import asyncio
import threading

import pytest

from tabhooks.errors import TooManyRequests
from tabhooks.inbox.watchers import PAGE_BUILDS, RENDER_THREADS, StreamLimits, Watchers


def watchers(per_bin: int = 2, per_address: int = 3, total: int = 4) -> Watchers:
    return Watchers(StreamLimits(per_bin, per_address, total, send_timeout_s=1.0))


def test_each_limit_refuses_with_its_setting_and_a_retry_after() -> None:
    gate = watchers(total=5)
    gate.admit("a", "1.1.1.1")
    gate.admit("a", "2.2.2.2")
    with pytest.raises(TooManyRequests, match="TABHOOKS_INBOX_STREAMS_PER_BIN") as refused:
        gate.admit("a", "3.3.3.3")
    assert refused.value.retry_after_s >= 1
    gate.admit("b", "1.1.1.1")
    gate.admit("c", "1.1.1.1")
    with pytest.raises(TooManyRequests, match="TABHOOKS_INBOX_STREAMS_PER_ADDRESS"):
        gate.admit("d", "1.1.1.1")
    gate.admit("d", "4.4.4.4")
    with pytest.raises(TooManyRequests, match="TABHOOKS_INBOX_STREAMS_MAX"):
        gate.admit("e", "5.5.5.5")
    assert gate.open_count() == 5 and gate.open_count("a") == 2


def test_a_place_is_given_back_once_however_often_it_is_released() -> None:
    gate = watchers(per_bin=1)
    place = gate.admit("a", "1.1.1.1")
    place.release()
    place.release()
    assert gate.open_count() == 0
    second = gate.admit("a", "1.1.1.1")
    other = gate.admit("b", "1.1.1.1")
    place.release()  # a stale release must not free someone else's place
    assert gate.open_count() == 2 and gate.open_count("a") == 1
    second.release()
    other.release()
    assert gate.open_count() == 0


def test_rendering_runs_off_the_loop_and_at_most_render_threads_at_once() -> None:
    gate = watchers()
    running = 0
    most = 0
    lock = threading.Lock()
    loop_thread = threading.get_ident()
    seen_threads: set[int] = set()

    def render(n: int) -> str:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
            seen_threads.add(threading.get_ident())
        threading.Event().wait(0.02)
        with lock:
            running -= 1
        return f"card {n}"

    async def main() -> list[str]:
        return await asyncio.gather(*(gate.render(render, n) for n in range(8)))

    assert asyncio.run(main()) == [f"card {n}" for n in range(8)]
    assert loop_thread not in seen_threads
    assert 1 <= most <= RENDER_THREADS


def test_views_asking_for_the_same_card_share_one_rendering() -> None:
    gate = watchers()
    calls: list[str] = []

    def render(name: str) -> str:
        calls.append(name)
        threading.Event().wait(0.02)
        return f"<{name}>"

    async def main() -> list[str]:
        together = await asyncio.gather(
            *(gate.shared(("req", None), render, "a") for _ in range(5))
        )
        later = await gate.shared(("req", None), render, "a")
        manager = await gate.shared(("req", "csrf"), render, "b")
        return [*together, later, manager]

    assert asyncio.run(main()) == ["<a>"] * 6 + ["<b>"]
    assert calls == ["a", "b"]


def test_a_failed_rendering_is_not_shared_with_later_views() -> None:
    gate = watchers()
    outcomes = iter([ValueError("boom"), "<card>"])

    def render() -> str:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def main() -> str:
        with pytest.raises(ValueError, match="boom"):
            await gate.shared("key", render)
        return await gate.shared("key", render)

    assert asyncio.run(main()) == "<card>"


def test_only_a_few_bin_pages_hold_their_bodies_at_once() -> None:
    gate = watchers()
    inside = 0
    most = 0

    async def build() -> None:
        nonlocal inside, most
        async with gate.building():
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.01)
            inside -= 1

    async def main() -> None:
        await asyncio.gather(*(build() for _ in range(3 * PAGE_BUILDS)))

    asyncio.run(main())
    assert most == PAGE_BUILDS
