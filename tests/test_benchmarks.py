"""The benchmarks keep working: each runs in ``--quick`` mode and its figures are printed.

Speed is never asserted here (the machine is shared and noisy; the benchmarks compare against
a ceiling measured in the same run and say whether targets were met). What is asserted is
that a benchmark runs to the end, that its last line is the JSON object of figures the issue
asks for, and — for delivery — that every delivery arrived exactly once (the script exits
non-zero otherwise).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

#: Speed figures: run alone, after the parallel run (see scripts/test).
pytestmark = pytest.mark.serial

ROOT = Path(__file__).resolve().parents[1]

QUICK_RUNS = {
    "api.py": {"get_ratio", "create_ratio", "list1000_cost_vs_get", "rss_mb_10k"},
    "delivery.py": {
        "throughput_ratio",
        "p99_ms_at_500",
        "fanout_ratio",
        "isolation_ratio",
        "peak_rss_mb",
        "rss_mb_100k_pending",
        "backlog_ratio",
        "catchup_ratio",
        "catchup_peak_rss_mb",
        "signed_ratio",
        "pg_w1_rate",
        "pg_w2_rate",
    },
    "responsiveness.py": {
        "idle_p99_ms",
        "relay_p99_ms",
        "publish_p99_ms",
        "refresh_p99_ms",
        "bin_flood_p99_ms",
    },
}
#: Figures that are null when their back end is not there (bench/delivery.py phase (j) runs
#: on TABHOOKS_TEST_POSTGRES_URL's cluster, or one it starts, when PostgreSQL is installed).
OPTIONAL = {"pg_w1_rate", "pg_w2_rate"}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("script", sorted(QUICK_RUNS))
def test_quick_benchmark_prints_its_figures(
    script: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    output = run.stdout.strip().splitlines()
    assert run.returncode == 0, "\n".join(output[-40:]) + run.stderr[-4000:]
    figures = json.loads(output[-1])
    assert set(figures) == QUICK_RUNS[script]
    assert all(
        isinstance(value, int | float) or (value is None and name in OPTIONAL)
        for name, value in figures.items()
    ), figures
    with capsys.disabled():
        print(f"\nbench/{script} --quick: {output[-2]}\n{output[-1]}")
