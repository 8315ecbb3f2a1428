"""Server subprocesses for ``bench/api.py``: the real ``tabhooks serve`` and the ceiling app.

Both are started on 127.0.0.1 with an ephemeral port, announce it with the line
``tabhooks listening on http://HOST:PORT`` and are stopped with SIGTERM (SIGKILL to their
process group if they linger). The process started is the server itself (no reloader, no
worker processes), so its ``/proc/<pid>`` is the server's memory.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "bench-admin-password"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0

_LISTENING = re.compile(r"tabhooks listening on (http://127\.0\.0\.1:\d+)")
_CEILING = Path(__file__).with_name("_ceiling.py")


@dataclass
class Server:
    """A running server subprocess; ``output`` keeps everything it printed."""

    name: str
    process: subprocess.Popen[str]
    #: The SQLite file the server stores into (tabhooks only).
    database: Path | None = None
    base_url: str = ""
    output: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid

    def memory_mb(self) -> tuple[float, float]:
        """(current RSS, peak RSS) in MiB, from ``VmRSS``/``VmHWM`` in /proc/<pid>/status."""
        fields: dict[str, float] = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in {"VmRSS", "VmHWM"}:
                fields[key] = int(value.split()[0]) / 1024  # reported in kB
        return fields["VmRSS"], fields["VmHWM"]

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(STOP_TIMEOUT_S)


def start_tabhooks(workdir: Path) -> Server:
    """``python -m tabhooks serve --dev`` on a fresh SQLite file in ``workdir``."""
    database = workdir / "bench.db"
    env = {
        "TABHOOKS_DATABASE_URL": f"sqlite:///{database}",
        "TABHOOKS_ADMIN_USERNAME": ADMIN_USERNAME,
        "TABHOOKS_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
    command = ("-m", "tabhooks", "serve", "--host", "127.0.0.1", "--port", "0", "--dev")
    server = _start("tabhooks", command, workdir, env)
    server.database = database
    _wait_healthy(server, "/tabhooks/v1/health")
    return server


def start_ceiling(workdir: Path) -> Server:
    """The bare FastAPI route of ``_ceiling.py`` on the same uvicorn settings."""
    return _start("ceiling", (str(_CEILING),), workdir, {})


def _start(name: str, args: Sequence[str], workdir: Path, extra: Mapping[str, str]) -> Server:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TABHOOKS_")}
    env.update(extra, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [sys.executable, *args],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    server = Server(name, process)
    ready = threading.Event()
    threading.Thread(target=_pump, args=(server, ready), daemon=True).start()
    if not ready.wait(START_TIMEOUT_S) or not server.base_url:
        server.stop()
        raise RuntimeError(f"{name} did not start:\n" + "".join(server.output))
    return server


def _pump(server: Server, ready: threading.Event) -> None:
    assert server.process.stdout is not None
    for line in server.process.stdout:
        server.output.append(line)
        match = _LISTENING.search(line)
        if match and not ready.is_set():
            server.base_url = match.group(1)
            ready.set()
    ready.set()


def _wait_healthy(server: Server, path: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(server.base_url + path, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if server.process.poll() is not None:
            break
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"{server.name} never became healthy:\n" + "".join(server.output))
