"""A relay render worker: a child process that checks and renders templates, and nothing else.

:class:`tabhooks.relay.render_pool.RenderPool` starts it as ``python -m
tabhooks.relay.render_worker`` and talks to it over its standard input and output, one JSON
object per line each way::

    {"op": "render", "source": "...", "context": {...}}  ->  {"text": "..."}
                                                          |  {"error": "...", "overran": bool}

An answer with ``"exiting": true`` is this worker's last (after a ``MemoryError``, so the
next render gets a fresh heap).
    {"op": "check", "source": "..."}                     ->  {} | {"invalid": "..."}

It imports Jinja2 and the sandbox only, so it starts in about a tenth of a second and weighs a
few tens of MB. Two limits are the kernel's, so they hold whatever the template does, even
inside a single C call the sandbox cannot interrupt:

- memory: ``RLIMIT_AS`` at the address space it has after start-up plus ``--memory-mb``; an
  allocation past it raises ``MemoryError`` (the answer says so, then the worker exits so the
  next render gets a fresh heap);
- time: ``SIGALRM`` armed for each request and left at its default action, which ends the
  process if the request runs past its limit plus a grace period.

Answers are JSON, never pickles: the parent reads nothing from here that could run code.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from typing import Any, TextIO

from tabhooks.relay import templates

#: Extra time the kernel alarm allows past the render limit (the sandbox stops a render
#: itself at the limit; the alarm is for a C call that cannot be stopped).
ALARM_GRACE_S = 0.5
#: Time allowed to compile and check a template when a route is saved.
CHECK_TIMEOUT_S = 10.0


def limit_memory(megabytes: int) -> bool:
    """Cap the address space at its current size plus ``megabytes``; ``False`` where the
    platform cannot (no ``resource`` module or no ``/proc``: Windows, macOS)."""
    try:
        import resource

        with open("/proc/self/statm") as statm:
            current = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (ImportError, OSError, ValueError):
        return False
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = current + megabytes * 1024 * 1024
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    return True


def answer(request: dict[str, Any], timeout_s: float) -> tuple[dict[str, Any], bool]:
    """The answer to one request, and whether this worker should exit after sending it."""
    source = str(request.get("source", ""))
    checking = request.get("op") == "check"
    _alarm(CHECK_TIMEOUT_S if checking else timeout_s + ALARM_GRACE_S)
    try:
        if checking:
            templates.check(source)
            return {}, False
        context = request.get("context") or {}
        return {"text": templates.render(source, context, timeout_s=timeout_s)}, False
    except templates.InvalidTemplate as exc:
        return {"invalid": exc.detail}, False
    except templates.RenderFailed as exc:
        return {"error": str(exc), "overran": exc.overran}, isinstance(exc.__cause__, MemoryError)
    except MemoryError:
        detail = f"{templates.LIMIT_PREFIX}it needed more memory than templates may use"
        return {"error": detail, "overran": True}, True
    finally:
        _alarm(0)


def _alarm(seconds: float) -> None:
    """Arm (or with 0 disarm) the kernel alarm; Windows has none, and there the pool's own
    kill at the limit is the only one."""
    if hasattr(signal, "setitimer"):
        signal.setitimer(signal.ITIMER_REAL, seconds)


def serve(requests: TextIO, answers: TextIO, timeout_s: float) -> None:
    """Answer requests one line at a time until the parent closes the pipe."""
    for line in requests:
        reply, stop = answer(json.loads(line), timeout_s)
        if stop:
            reply["exiting"] = True  # so the pool sends nothing more here
        answers.write(json.dumps(reply) + "\n")
        answers.flush()
        if stop:
            return


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--timeout-s", type=float, default=templates.RENDER_TIMEOUT_S)
    parser.add_argument("--memory-mb", type=int, default=256)
    options = parser.parse_args(argv)
    # Ctrl-C in the server's terminal reaches the whole process group; the server decides
    # when its workers stop (it closes their input).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if options.memory_mb > 0:
        limit_memory(options.memory_mb)
    serve(sys.stdin, sys.stdout, options.timeout_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
