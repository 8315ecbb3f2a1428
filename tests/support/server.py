"""Start the real ``tabhooks serve`` in a subprocess on 127.0.0.1 and an ephemeral port."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "admin-password-for-tests"
ADMIN_PAT_NAME = "tests-pat"
ADMIN_PAT_SECRET = "tests-pat-secret-0123456789"

#: The key PostgreSQL test stores are sealed with: every process sharing such a store (server,
#: worker, admin command) must hold the same one. SQLite stores make their own key file.
TEST_SECRET_KEY = "fl2Y4onruwr0_6TLAb5DrIVU-emGnNwL4vU78Qw_fDo="

_LISTENING = re.compile(r"tabhooks listening on (http://\S+)")
START_TIMEOUT_S = 60.0


def store_env(database_url: str) -> dict[str, str]:
    """What a tabhooks process needs in its environment, besides the URL, to open the store:
    on PostgreSQL the shared :data:`TEST_SECRET_KEY`."""
    if database_url.startswith(("postgresql", "postgres:")):
        return {"TABHOOKS_SECRET_KEY": TEST_SECRET_KEY}
    return {}


def spawn(args: Sequence[str], workdir: Path, env: Mapping[str, str]) -> subprocess.Popen[str]:
    """``python -m tabhooks <args>`` in ``workdir``: its own session (so it can be killed with
    what it started), its output and errors on one text pipe for the caller to read."""
    return subprocess.Popen(
        [sys.executable, "-m", "tabhooks", *args],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


@dataclass
class ServerProcess:
    """A running server; ``stop()`` or ``kill()`` ends it, ``output`` keeps what it printed."""

    database_url: str
    workdir: Path
    extra_env: Mapping[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ("--dev",)
    base_url: str = ""
    output: list[str] = field(default_factory=list)
    process: subprocess.Popen[str] | None = None

    def start(self) -> ServerProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TABHOOKS_")}
        env.update(
            TABHOOKS_DATABASE_URL=self.database_url,
            TABHOOKS_ADMIN_USERNAME=ADMIN_USERNAME,
            TABHOOKS_ADMIN_PASSWORD=ADMIN_PASSWORD,
            TABHOOKS_ADMIN_PAT_NAME=ADMIN_PAT_NAME,
            TABHOOKS_ADMIN_PAT_SECRET=ADMIN_PAT_SECRET,
            PYTHONUNBUFFERED="1",
        )
        env.update(store_env(self.database_url))
        env.update(self.extra_env)
        self.process = spawn(
            ("serve", "--host", "127.0.0.1", "--port", "0", *self.args), self.workdir, env
        )
        ready = threading.Event()
        threading.Thread(target=self._pump, args=(ready,), daemon=True).start()
        if not ready.wait(START_TIMEOUT_S) or not self.base_url:
            self.kill()
            raise RuntimeError("tabhooks serve did not start:\n" + "".join(self.output))
        self._wait_healthy()
        return self

    def _pump(self, ready: threading.Event) -> None:
        assert self.process and self.process.stdout
        for line in self.process.stdout:
            self.output.append(line)
            match = _LISTENING.search(line)
            if match and not ready.is_set():
                self.base_url = match.group(1)
                ready.set()
        ready.set()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base_url}/tabhooks/v1/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.process and self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("tabhooks serve never became healthy:\n" + "".join(self.output))

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def api(self, version: str = "3.28") -> str:
        return f"{self.base_url}/api/{version}"
