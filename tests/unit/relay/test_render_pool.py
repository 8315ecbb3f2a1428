"""The render pool with real worker processes: renders come back, a template that overruns
its time (in code the sandbox cannot interrupt) or its memory is killed and reported, the
next render gets a fresh worker, and an overrunning template is then skipped for a while."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tabhooks.relay.render_pool import RenderLimits, RenderPool
from tabhooks.relay.templates import LIMIT_PREFIX, InvalidTemplate, RenderFailed

#: ``pprint`` of a list nested by reference: pure Python the sandbox does not meter, and
#: small in memory (2^17 leaves took 35 s and 34 MB in-process).
CPU_HOG = (
    "{% set ns = namespace(l=[0]) %}{% for i in range(17) %}{% set ns.l = [ns.l, ns.l] %}"
    "{% endfor %}{{ ns.l | pprint | length }}"
)
#: A list literal is not metered; each pass keeps 100,000 more strings (about 6 MB), which
#: 64 MB of address space cannot hold for long.
MEMORY_HOG = (
    "{% set ns = namespace(keep=[]) %}{% for i in range(60) %}"
    "{% set ns.keep = [ns.keep, range(100000) | map('string') | list] %}{% endfor %}"
    "{{ ns.keep | length }}"
)
CONTEXT = {"event": {"title": "Refresh failed", "name": "x\ud800y"}}


@pytest.fixture
async def pool() -> AsyncIterator[RenderPool]:
    async with RenderPool(RenderLimits(timeout_s=0.5, memory_mb=64, workers=1)) as started:
        yield started


async def test_renders_and_checks_in_a_worker(pool: RenderPool) -> None:
    assert await pool.render("{{ event.title }}!", CONTEXT) == "Refresh failed!"
    # Lone surrogates (valid in a relayed JSON payload) survive the trip both ways.
    assert await pool.render("{{ event.name }}", CONTEXT) == "x\ud800y"
    await pool.check("{{ event.title | upper }}")
    with pytest.raises(InvalidTemplate, match="line 1"):
        await pool.check("{% if %}")


async def test_a_render_error_leaves_the_worker_in_service(pool: RenderPool) -> None:
    with pytest.raises(RenderFailed, match="ZeroDivisionError"):
        await pool.render("{{ 1 / 0 }}", CONTEXT)
    with pytest.raises(RenderFailed, match=r"'\*' would make a value"):
        await pool.render("{{ 'a' * 200000000 }}", CONTEXT)
    assert await pool.render("ok", CONTEXT) == "ok"


async def test_an_overrun_the_sandbox_cannot_stop_is_killed(pool: RenderPool) -> None:
    with pytest.raises(RenderFailed) as caught:
        await pool.render(CPU_HOG, CONTEXT)
    assert str(caught.value) == f"{LIMIT_PREFIX}it ran for more than 0.5 s"
    # A fresh worker answers the next render.
    assert await pool.render("{{ event.title }}", CONTEXT) == "Refresh failed"
    # The template that overran is skipped for a while, without taking a worker (the reason
    # says so; no wall-clock bound, which a loaded machine would break).
    with pytest.raises(RenderFailed, match="earlier message; skipped"):
        await pool.render(CPU_HOG, CONTEXT)


async def test_a_template_over_its_memory_fails_and_the_pool_recovers() -> None:
    async with RenderPool(RenderLimits(timeout_s=20, memory_mb=64, workers=1)) as pool:
        with pytest.raises(RenderFailed) as caught:
            await pool.render(MEMORY_HOG, CONTEXT)
        assert str(caught.value).startswith(f"{LIMIT_PREFIX}it needed more memory")
        assert await pool.render("still {{ event.title }}", CONTEXT) == "still Refresh failed"


async def test_renders_wait_their_turn_and_all_complete(pool: RenderPool) -> None:
    rendered = await asyncio.gather(*(pool.render("{{ n }}", {"n": n}) for n in range(50)))
    assert rendered == [str(n) for n in range(50)]
