"""The server keeps answering while it does heavy work (issue 14): relay template renders,
hostile workbook publishes, refreshes whose database never answers, and a watched bin flooded
with large requests, each run to its expected end against one real server while
``/tabhooks/v1/health`` is asked every 20 ms.

The issue's target is health under 100 ms while each runs. This machine is small and shared,
so the test does not assert speed: it prints each scenario's p50/p99/max next to the target
(``bench/responsiveness.py`` measures the same with more work) and asserts only that no health
call took :data:`~tests.support.responsiveness.FREEZE_S` (2 s) — a frozen loop takes seconds
(before the fixes: a render held the server for minutes, a publish for 21 s, one site's slow
refreshes delayed others by 10 to 58 s, and five live views of a flooded bin took health to
a 1.2 s median and 2.7 s at p99).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.conftest import database_url_for
from tests.support import responsiveness as r
from tests.support.server import ServerProcess

#: Latency figures: run alone, after the parallel run (see scripts/test).
pytestmark = pytest.mark.serial


@pytest.fixture(scope="module")
def target(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[r.Target]:
    workdir = tmp_path_factory.mktemp("responsiveness")
    server = ServerProcess(
        database_url_for(backend, request, workdir), workdir, extra_env=r.SERVER_ENV
    ).start()
    signed_in = r.Target.sign_in(server.base_url)
    yield signed_in
    signed_in.close()
    server.stop()


@pytest.fixture(scope="module")
def hole() -> Iterator[int]:
    with r.black_hole() as port:
        yield port


SCENARIOS: dict[str, Callable[[int], Callable[[r.Target], str]]] = {
    "idle": lambda port: r.idle(2.0),
    "relay-renders": lambda port: r.relay_renders(messages=4),
    "hostile-publishes": lambda port: r.hostile_publishes(elements=1_500_000, text_mb=40),
    "slow-refreshes": lambda port: r.slow_refreshes(count=4, port=port),
    "bin-flood": lambda port: r.bin_flood(seconds=6.0, views=3, senders=3, body_kb=200),
}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_health_keeps_answering_while_heavy_work_runs(
    target: r.Target, hole: int, name: str
) -> None:
    measured = r.measure(target, name, SCENARIOS[name](hole))
    print(f"\n{measured.line()}", end="")
    assert set(measured.statuses) == {200}, measured.statuses
    assert measured.max_ms < r.FREEZE_S * 1000, measured.line()
