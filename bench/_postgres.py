"""A PostgreSQL cluster for ``bench/delivery.py``'s phase (j).

``TABHOOKS_TEST_POSTGRES_URL`` (as ``scripts/test`` exports it) names one to use; otherwise a
throwaway cluster is started with ``scripts/lib/postgres.sh`` — the one the test suite uses —
by a shell that keeps it up until the benchmark closes the shell's input, and removes it then.
Without PostgreSQL binaries there is no cluster and phase (j) is skipped.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = "TABHOOKS_TEST_POSTGRES_URL"
_SHELL = (
    "source scripts/lib/postgres.sh && start_throwaway_postgres >&2 "
    '&& echo "URL ${TABHOOKS_TEST_POSTGRES_URL:-}" && read -r _'
)


@contextmanager
def postgres_cluster() -> Iterator[str | None]:
    """The admin URL of a PostgreSQL cluster for the block's duration, or None."""
    given = os.environ.get(ENV)
    if given:
        yield given
        return
    env = {k: v for k, v in os.environ.items() if k != ENV}
    shell = subprocess.Popen(
        ["bash", "-c", _SHELL],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert shell.stdout is not None and shell.stdin is not None
    url = None
    for line in shell.stdout:
        if line.startswith("URL "):
            url = line[4:].strip() or None
            break
    try:
        yield url
    finally:
        shell.stdin.close()  # `read` returns, the shell exits, its EXIT trap stops the cluster
        try:
            shell.wait(60)
        except subprocess.TimeoutExpired:
            shell.kill()
            shell.wait(10)
