"""Relay templates render in worker processes: off the event loop, in bounded time and memory.

The API, the dispatcher and the jobs share one event loop, so a render that runs on it stops
everything: two nested ``range(100000)`` loops in a template held the whole server for minutes.
The sandbox (:mod:`tabhooks.relay.sandbox`) meters loops, calls and the values operators build,
and stops most hostile templates within milliseconds with an exact error. It cannot be the
guarantee: a single C call (``repr`` of a list nested by reference, a filter written in pure
Python that calls nothing back) runs to its end, and a thread that runs it cannot be stopped.
A process can. So:

- each render and each save-time check is one request to a small child interpreter
  (:mod:`tabhooks.relay.render_worker`) that imports Jinja2 and the sandbox only;
- the child caps its own address space (``RLIMIT_AS``) and arms a kernel alarm per request;
- the pool waits for the answer without blocking the loop and kills a worker that overruns;
  the next request starts a fresh one (about 0.1 s).

Workers start on first use and stay; ``workers`` of them render at once and further requests
wait their turn. A template that used up its time or memory is not rendered again for
:data:`OVERRUN_COOLDOWN_S` (its messages fail at once with the same reason), so one broken
template cannot keep the workers busy for every message of a burst.

The normal case stays fast because the worker keeps compiled templates: before, every message
compiled its template on the event loop (1.2 ms of loop time for a small JSON template on an
idle machine); now a render costs the loop one JSON line each way over a pipe (figures in
docs/relay.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from tabhooks.config import Settings
from tabhooks.relay import templates
from tabhooks.relay.render_worker import CHECK_TIMEOUT_S
from tabhooks.relay.templates import LIMIT_PREFIX, InvalidTemplate, RenderFailed

#: Time the pool waits past a worker's own limits before killing it (start-up, scheduling).
KILL_GRACE_S = 1.0
#: Longest answer line read from a worker: a 256,000-character body escaped as JSON.
ANSWER_MAX_BYTES = 16 * 1024 * 1024
#: Renders that may wait for a worker, per worker; more fail at once instead of queueing
#: without end (a burst of 500 inbound events with two targets each fits).
WAITING_MAX_PER_WORKER = 500
#: How long a template that used up its time or memory is skipped.
OVERRUN_COOLDOWN_S = 60.0
#: Templates remembered as having overrun (oldest forgotten first).
OVERRUN_MEMORY = 1000


@dataclass(frozen=True, slots=True)
class RenderLimits:
    """Per render: time and memory; per pool: how many renders run at once."""

    timeout_s: float = templates.RENDER_TIMEOUT_S
    memory_mb: int = 256
    workers: int = 2

    @classmethod
    def from_settings(cls, settings: Settings) -> RenderLimits:
        return cls(
            timeout_s=settings.relay_render_timeout_s,
            memory_mb=settings.relay_render_memory_mb,
            workers=settings.relay_render_workers,
        )


class _Gone(Exception):
    """The worker closed its output: it exited, was killed, or ran out of memory."""


class _Worker:
    """One child process and its pipes; used by one request at a time."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, limits: RenderLimits) -> _Worker:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "tabhooks.relay.render_worker"),
            *("--timeout-s", str(limits.timeout_s), "--memory-mb", str(limits.memory_mb)),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=ANSWER_MAX_BYTES,
        )
        return cls(process)

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    async def ask(self, request: Mapping[str, Any]) -> dict[str, Any]:
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None
        # default=str: enrichment may carry a date; ensure_ascii keeps lone surrogates intact.
        stdin.write(json.dumps(request, default=str).encode() + b"\n")
        try:
            await stdin.drain()
            line = await stdout.readline()
        except (ConnectionError, asyncio.LimitOverrunError, ValueError) as exc:
            raise _Gone(str(exc)) from exc
        if not line:
            raise _Gone("no answer")
        answer = json.loads(line)
        assert isinstance(answer, dict)
        return answer

    def kill(self) -> None:
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()

    async def exit_code(self) -> int | None:
        """The worker's exit status once it has gone (``None`` if it will not say)."""
        with contextlib.suppress(TimeoutError):
            return await asyncio.wait_for(self.process.wait(), 2.0)
        return None

    async def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        if await self.exit_code() is None:
            self.kill()
            await self.exit_code()
        if self.process.stdout is not None:  # to its end, so its pipe closes with the loop open
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.process.stdout.read(), 1.0)


class RenderPool:
    """Checks and renders relay templates in worker processes (see the module docstring).

    Use as an async context manager; leaving it stops the workers. Implements
    :class:`tabhooks.relay.templates.Renderer`.
    """

    def __init__(self, limits: RenderLimits | None = None) -> None:
        self.limits = limits or RenderLimits()
        #: Idle workers; ``None`` is a slot whose worker has not started (or was killed).
        self._idle: asyncio.Queue[_Worker | None] = asyncio.Queue()
        for _ in range(self.limits.workers):
            self._idle.put_nowait(None)
        self._workers: set[_Worker] = set()
        self._waiting = 0
        #: Digest of a template that overran -> (monotonic time it may run again, reason).
        self._overran: dict[bytes, tuple[float, str]] = {}

    async def __aenter__(self) -> RenderPool:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        workers, self._workers = list(self._workers), set()
        await asyncio.gather(*(worker.close() for worker in workers))

    async def check(self, source: str) -> None:
        """Raise :class:`InvalidTemplate` unless ``source`` compiles and is safe."""
        try:
            answer = await self._ask({"op": "check", "source": source}, CHECK_TIMEOUT_S)
        except RenderFailed as exc:
            raise InvalidTemplate(f"The template cannot be checked: {exc}") from exc
        if "invalid" in answer:
            raise InvalidTemplate(str(answer["invalid"]))

    async def render(self, source: str, context: Mapping[str, Any]) -> str:
        """The rendered text; raises :class:`RenderFailed` with the reason."""
        digest = hashlib.sha256(source.encode("utf-8", "surrogatepass")).digest()
        skipped = self._overran.get(digest)
        if skipped is not None:
            if skipped[0] > time.monotonic():
                raise RenderFailed(f"{skipped[1]} (on an earlier message; skipped for a while)")
            del self._overran[digest]
        request = {"op": "render", "source": source, "context": context}
        try:
            answer = await self._ask(request, self.limits.timeout_s)
        except RenderFailed as exc:
            if exc.overran:
                self._remember_overrun(digest, str(exc))
            raise
        if "text" in answer:
            return str(answer["text"])
        reason = str(answer.get("error") or "the render worker gave no answer")
        if answer.get("overran"):
            self._remember_overrun(digest, reason)
        raise RenderFailed(reason)

    def _remember_overrun(self, digest: bytes, reason: str) -> None:
        if len(self._overran) >= OVERRUN_MEMORY:
            del self._overran[next(iter(self._overran))]
        self._overran[digest] = (time.monotonic() + OVERRUN_COOLDOWN_S, reason)

    async def _ask(self, request: Mapping[str, Any], limit_s: float) -> dict[str, Any]:
        if self._waiting >= WAITING_MAX_PER_WORKER * self.limits.workers:
            raise RenderFailed(
                f"the template render workers are all busy ({self._waiting} renders waiting)"
            )
        self._waiting += 1
        try:
            worker = await self._take()
        finally:
            self._waiting -= 1
        started = time.monotonic()
        try:
            async with asyncio.timeout(limit_s + KILL_GRACE_S):
                answer = await worker.ask(request)
        except TimeoutError:
            self._discard(worker)
            reason = f"{LIMIT_PREFIX}it ran for more than {limit_s:g} s"
            raise RenderFailed(reason, overran=True) from None
        except _Gone:
            self._discard(worker)
            ran_s = time.monotonic() - started
            reason = self._death(await worker.exit_code(), limit_s, ran_s)
            raise RenderFailed(reason, overran=True) from None
        except BaseException:  # cancelled mid-request: its answer would go to the next one
            self._discard(worker)
            raise
        if answer.get("exiting"):
            self._discard(worker)
        else:
            self._idle.put_nowait(worker)
        return answer

    def _death(self, code: int | None, limit_s: float, ran_s: float) -> str:
        """Why a worker died mid-render: its time (the worker's own kernel alarm, or simply
        a death after the limit had passed) or else, most likely, its memory.

        The exit status alone cannot say: when something else in the process reaps the
        child first, asyncio reports 255 for a worker the alarm killed.
        """
        alarm = getattr(signal, "SIGALRM", None)  # the worker's own kernel alarm (not Windows)
        if (alarm is not None and code == -alarm) or ran_s >= limit_s:
            return f"{LIMIT_PREFIX}it ran for more than {limit_s:g} s"
        return (
            f"{LIMIT_PREFIX}its render worker stopped (exit status {code}); it probably "
            f"needed more than {self.limits.memory_mb} MB"
        )

    async def _take(self) -> _Worker:
        worker = await self._idle.get()
        if worker is not None and worker.alive:
            return worker
        if worker is not None:
            self._workers.discard(worker)
        try:
            started = await _Worker.start(self.limits)
        except (OSError, ValueError) as exc:
            self._idle.put_nowait(None)
            raise RenderFailed(f"the template render worker could not start: {exc}") from exc
        self._workers.add(started)
        return started

    def _discard(self, worker: _Worker) -> None:
        if worker.process.stdin is not None:
            worker.process.stdin.close()
        worker.kill()
        self._workers.discard(worker)
        self._idle.put_nowait(None)
