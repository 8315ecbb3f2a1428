"""Subprocesses of ``bench/delivery.py``: the receiver (kept up) and one engine per phase.

The receiver (``_delivery_receiver.py``) is started once and announces its two addresses.
Every phase runs ``_delivery_engine.py PHASE SPEC`` in a fresh interpreter: its stdout lines
are echoed as they come and the final ``RESULT {json}`` line is parsed; its stderr (tabhooks'
own log, at INFO as ``tabhooks serve`` logs) goes to ``<workdir>/<phase>.log`` and is scanned
afterwards for warnings, errors and tracebacks.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _server import STOP_TIMEOUT_S

HERE = Path(__file__).parent
RECEIVER = HERE / "_delivery_receiver.py"
ENGINE = HERE / "_delivery_engine.py"
START_TIMEOUT_S = 30.0
_RECEIVER_LINE = re.compile(r"receiver listening on (http://[\d.]+:\d+) blackhole ([\d.]+):(\d+)")
#: Log lines worth reporting: anything above INFO, and tracebacks.
_TROUBLE = re.compile(r"^(WARNING|ERROR|CRITICAL)\b|Traceback")


def clean_env() -> dict[str, str]:
    """The parent's environment without TABHOOKS_* (each phase sets its own knobs)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TABHOOKS_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(STOP_TIMEOUT_S)


@dataclass
class Receiver:
    """The running receiver process and its addresses."""

    process: subprocess.Popen[str]
    url: str = ""
    blackhole_port: int = 0
    output: list[str] = field(default_factory=list)

    def blackhole_url(self, host: str) -> str:
        return f"http://{host}:{self.blackhole_port}"

    def stop(self) -> None:
        _stop(self.process)


def start_receiver(workdir: Path) -> Receiver:
    process = subprocess.Popen(
        [sys.executable, str(RECEIVER)],
        cwd=workdir,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    receiver = Receiver(process)
    ready = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            receiver.output.append(line)
            match = _RECEIVER_LINE.search(line)
            if match and not ready.is_set():
                receiver.url, receiver.blackhole_port = match.group(1), int(match.group(3))
                ready.set()
        ready.set()

    threading.Thread(target=pump, daemon=True).start()
    if not ready.wait(START_TIMEOUT_S) or not receiver.url:
        receiver.stop()
        raise RuntimeError("the receiver did not start:\n" + "".join(receiver.output))
    return receiver


@dataclass
class PhaseRun:
    """What one engine process reported, plus the trouble found in its log."""

    result: dict[str, Any]
    pid: int
    log_path: Path
    trouble: list[str]


def run_phase(
    phase: str,
    spec: dict[str, Any],
    workdir: Path,
    *,
    echo: Callable[[str], None],
    prefix: Sequence[str] = (),
    name: str | None = None,
) -> PhaseRun:
    """Run one phase in a fresh process; ``prefix`` wraps the command (e.g. py-spy record)."""
    name = name or phase
    log_path = workdir / f"{name}.log"
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            [*prefix, sys.executable, str(ENGINE), phase, json.dumps(spec)],
            cwd=workdir,
            env=clean_env(),
            stdout=subprocess.PIPE,
            stderr=log_file,
            text=True,
            start_new_session=True,
        )
        result: dict[str, Any] | None = None
        assert process.stdout is not None
        try:
            for line in process.stdout:
                if line.startswith("RESULT "):
                    result = json.loads(line[len("RESULT ") :])
                elif line.strip():
                    echo(line.rstrip())
        except BaseException:
            _stop(process)  # interrupted: do not leave the phase running
            raise
        code = process.wait()
    trouble = [
        line.rstrip()
        for line in log_path.read_text(errors="replace").splitlines()
        if _TROUBLE.search(line)
    ]
    if code != 0 or result is None:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
        raise RuntimeError(f"phase {name} failed (exit {code}); end of {log_path}:\n{tail}")
    return PhaseRun(result, process.pid, log_path, trouble)
