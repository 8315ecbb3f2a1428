"""The dispatcher: claims due deliveries in batches, sends them, records every attempt.

One dispatcher runs inside ``tabhooks serve`` and alone in ``tabhooks worker``; on PostgreSQL
any number of them share the queue. The loop:

1. claim up to ``batch_size`` due deliveries under a lease (one transaction);
2. start one task per delivery, at most ``concurrency`` in flight and at most
   ``per_destination`` per destination host. A delivery whose host is saturated waits in a
   short per-host line and starts the moment one of the host's attempts finishes; beyond that
   line it is handed back for a moment later. A slow or dead endpoint therefore holds at most
   its own slots, and cannot starve the rest;
3. a single writer task records finished attempts in batches (one transaction per batch) and
   moves each delivery on: succeeded, retry due later, or failed — and counts exhausted
   deliveries towards auto-disabling the webhook.

Every send goes through :class:`~tabhooks.delivery.sender.Sender`, which owns the SSRF guard,
timeouts and response cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, replace
from datetime import timedelta

from yarl import URL

from tabhooks.config import Settings
from tabhooks.delivery import signing
from tabhooks.delivery.metrics import DeliveryMetrics
from tabhooks.delivery.retry import RetryPolicy
from tabhooks.delivery.sender import Sender
from tabhooks.ids import new_id
from tabhooks.store import Store
from tabhooks.store import deliveries as queue
from tabhooks.store.deliveries import AttemptRecord, Claimed, Finish, Status
from tabhooks.store.tables import utcnow_precise

log = logging.getLogger(__name__)

#: How long a delivery handed back for a saturated destination waits before it is due again.
SATURATED_BACKOFF_S = 0.25
#: Most results written in one transaction.
WRITE_BATCH_MAX = 1000
DISABLED_SKIP_REASON = "webhook_disabled"


@dataclass(frozen=True, slots=True)
class DispatcherOptions:
    """The knobs of one dispatcher, taken from :class:`~tabhooks.config.Settings`."""

    retry_policy: RetryPolicy
    disable_after: int
    lease_s: float
    batch_size: int
    concurrency: int
    per_destination: int
    poll_interval_s: float
    attempt_timeout_s: float

    @classmethod
    def from_settings(cls, settings: Settings) -> DispatcherOptions:
        policy = replace(
            RetryPolicy.parse(settings.delivery_retry_schedule),
            overload_floor_s=settings.delivery_overload_floor_s,
        )
        return cls(
            retry_policy=policy,
            disable_after=settings.delivery_disable_after,
            lease_s=settings.delivery_lease_s,
            batch_size=settings.delivery_batch_size,
            concurrency=settings.delivery_concurrency,
            per_destination=settings.delivery_per_destination,
            poll_interval_s=settings.delivery_poll_interval_s,
            attempt_timeout_s=settings.delivery_timeout_s,
        )


class Dispatcher:
    """Delivers queued webhook events until :meth:`stop` is called."""

    def __init__(
        self,
        store: Store,
        sender: Sender,
        options: DispatcherOptions,
        metrics: DeliveryMetrics | None = None,
    ) -> None:
        self.store = store
        self.sender = sender
        self.options = options
        self.metrics = metrics or DeliveryMetrics()
        self.worker_id = new_id("wrk_")
        self._per_host: Counter[str] = Counter()
        self._waiting: defaultdict[str, deque[tuple[Claimed, float]]] = defaultdict(deque)
        self._slot_freed = asyncio.Event()
        self._recheck_at = 0.0
        # How many claimed deliveries may queue behind one host's in-flight attempts: enough
        # to keep a fast host busy between claims, few enough that a dead one cannot hold
        # more than a quarter of this dispatcher's capacity.
        self._line_limit = max(options.per_destination, options.concurrency // 4)
        # A held delivery must still have time for a whole attempt inside its lease.
        self._hold_limit_s = max(0.0, options.lease_s - options.attempt_timeout_s - 5)
        self._finished: list[Finish] = []
        self._finished_ready = asyncio.Event()
        self._released: list[str] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._writer_task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._loop_task = asyncio.create_task(self._claim_loop(), name="tabhooks-dispatch")
        self._writer_task = asyncio.create_task(self._write_loop(), name="tabhooks-record")
        log.info("action=dispatcher_started worker=%s", self.worker_id)

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop claiming, let attempts in flight finish (up to ``grace_s``), record them."""
        self._stopping.set()
        self.store.new_work.set()
        self._slot_freed.set()
        if self._loop_task:
            await self._loop_task
        for waiting in self._waiting.values():
            self._released.extend(claimed.id for claimed, _ in waiting)
        self._waiting.clear()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace_s)
            for task in pending:
                task.cancel()  # their leases expire and another dispatcher takes over
            await asyncio.gather(*pending, return_exceptions=True)
        self._finished_ready.set()
        if self._writer_task:
            await self._writer_task
        log.info("action=dispatcher_stopped worker=%s", self.worker_id)

    # ------------------------------------------------------------------ claiming

    async def _claim_loop(self) -> None:
        while not self._stopping.is_set():
            self._slot_freed.clear()  # before counting, so no wake-up is missed
            free = self._free_slots()
            if free <= 0:
                await self._wait(self._slot_freed)
                continue
            try:
                asked = min(self.options.batch_size, free)
                claimed = await self._claim_once(asked)
            except Exception:
                log.exception("action=claim_failed worker=%s", self.worker_id)
                await asyncio.sleep(self.options.poll_interval_s)
                continue
            if claimed < asked:  # the queue has nothing more due right now
                await self._wait(self.store.new_work)
            else:
                # SQLite statements run on the loop thread without awaiting anything, so a run
                # of full claims must yield, or attempts and API requests would never run.
                await asyncio.sleep(0)

    async def _claim_once(self, limit: int) -> int:
        self.store.new_work.clear()
        async with self.store.write() as conn:
            batch = await queue.claim_due(
                conn, worker_id=self.worker_id, limit=limit, lease_s=self.options.lease_s
            )
        now = time.monotonic()
        for claimed in batch:
            # Keyed like aiohttp's connection pool: scheme, host and port.
            host = _destination_key(claimed.url)
            if self._per_host[host] < self.options.per_destination:
                self._launch(claimed, host)
            elif len(self._waiting[host]) < self._line_limit:
                # Held (lease and all) until one of the host's attempts finishes.
                self._waiting[host].append((claimed, now))
            else:
                self._released.append(claimed.id)
        if self._released:
            self._finished_ready.set()
            # Handed back for a moment: look again then, not a whole poll interval later.
            self._recheck_at = time.monotonic() + SATURATED_BACKOFF_S
        return len(batch)

    def _launch(self, claimed: Claimed, host: str) -> None:
        self._per_host[host] += 1
        task = asyncio.create_task(self._deliver(claimed, host))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _free_slots(self) -> int:
        held = sum(len(q) for q in self._waiting.values())
        return self.options.concurrency - len(self._tasks) - held

    async def _wait(self, event: asyncio.Event) -> None:
        timeout = self.options.poll_interval_s
        if self._recheck_at:
            timeout = max(0.0, min(timeout, self._recheck_at - time.monotonic()))
            self._recheck_at = 0.0
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout=timeout)

    def _next_for(self, host: str) -> None:
        """Start the host's next held delivery, unless its lease is too old to finish safely."""
        waiting = self._waiting.get(host)
        while waiting:
            claimed, held_since = waiting.popleft()
            if time.monotonic() - held_since < self._hold_limit_s:
                self._launch(claimed, host)
                break
            self._released.append(claimed.id)
            self._finished_ready.set()
        if waiting is not None and not waiting:
            del self._waiting[host]

    # ------------------------------------------------------------------ sending

    async def _deliver(self, claimed: Claimed, host: str) -> None:
        try:
            self._finished.append(await self._attempt(claimed))
            self._finished_ready.set()
        except Exception:
            log.exception("action=deliver_failed delivery=%s", claimed.id)
        finally:
            self._per_host[host] -= 1
            if self._per_host[host] <= 0:
                del self._per_host[host]
            if not self._stopping.is_set():
                self._next_for(host)
            self._slot_freed.set()

    async def _attempt(self, claimed: Claimed) -> Finish:
        if not claimed.webhook_enabled:
            self.metrics.observe_skipped()
            return Finish(claimed.id, claimed.webhook_id, Status.FAILED, None, None,
                          DISABLED_SKIP_REASON, None)  # fmt: skip
        started_at = utcnow_precise()
        timestamp = int(time.time())
        if claimed.secrets:
            headers = signing.webhook_headers(
                claimed.secrets, claimed.id, timestamp, claimed.payload
            )
        else:
            headers = {signing.ID_HEADER: claimed.id, signing.TIMESTAMP_HEADER: str(timestamp)}
        headers.update(claimed.headers)
        outcome = await self.sender.send(
            claimed.url, claimed.payload, headers, method=claimed.method
        )
        number = claimed.attempts + 1
        self.metrics.observe_attempt(outcome)
        record = AttemptRecord(
            id=new_id("att_"),
            delivery_id=claimed.id,
            number=number,
            started_at=started_at,
            duration_ms=round(outcome.duration_ms, 3),
            status_code=outcome.status,
            error=str(outcome.error) if outcome.error else None,
            detail=outcome.detail,
            response_headers=outcome.response_headers,
            response_body=outcome.response_body,
        )
        last_error = str(outcome.error) if outcome.error else None
        if outcome.succeeded:
            status, next_at = Status.SUCCEEDED, None
        else:
            delay = self.options.retry_policy.next_delay(
                max(1, number - claimed.schedule_base), outcome, now=started_at
            )
            status = Status.PENDING if delay is not None else Status.FAILED
            next_at = started_at + delay if delay is not None else None
        return Finish(claimed.id, claimed.webhook_id, status, next_at, outcome.status,
                      last_error, record)  # fmt: skip

    # ------------------------------------------------------------------ recording

    async def _write_loop(self) -> None:
        while True:
            await self._finished_ready.wait()
            self._finished_ready.clear()
            while self._finished or self._released:
                batch = self._finished[:WRITE_BATCH_MAX]
                del self._finished[: len(batch)]
                released, self._released = self._released, []
                try:
                    await self._record(batch, released)
                except Exception:
                    # Leases expire, so these deliveries are retried; nothing is lost.
                    log.exception("action=record_failed count=%d", len(batch))
                    await asyncio.sleep(self.options.poll_interval_s)
            if self._stopping.is_set() and not self._tasks:
                return

    async def _record(self, batch: list[Finish], released: list[str]) -> None:
        disabled: list[str] = []
        async with self.store.write() as conn:
            await queue.finish(conn, worker_id=self.worker_id, results=batch)
            if released:
                retry_at = utcnow_precise() + timedelta(seconds=SATURATED_BACKOFF_S)
                await queue.release(conn, worker_id=self.worker_id, ids=released, at=retry_at)
            await queue.reset_failures(
                conn,
                {r.webhook_id for r in batch if r.status is Status.SUCCEEDED and r.webhook_id},
            )
            for result in batch:
                if result.attempt is None or result.status is not Status.FAILED:
                    continue
                if result.webhook_id is None:
                    continue  # relay deliveries have no webhook to disable
                if result.last_status == 410:
                    reason = "Webhook disabled automatically: the destination answered 410 Gone."
                    if await queue.disable(conn, result.webhook_id, reason=reason):
                        disabled.append(result.webhook_id)
                elif self.options.disable_after > 0 and await queue.count_failure(
                    conn,
                    result.webhook_id,
                    disable_after=self.options.disable_after,
                    reason=_exhausted_reason(result, self.options.disable_after),
                ):
                    disabled.append(result.webhook_id)
        for result in batch:
            self.metrics.observe_finished(result.status)
        for webhook_id in disabled:
            log.warning("action=webhook_disabled webhook=%s", webhook_id)


def _exhausted_reason(result: Finish, disable_after: int) -> str:
    last = f"HTTP {result.last_status}" if result.last_status else (result.last_error or "error")
    deliveries = "delivery" if disable_after == 1 else f"{disable_after} deliveries in a row"
    return (
        f"Webhook disabled automatically: {deliveries} failed after every retry "
        f"(last attempt: {last})."
    )


def _destination_key(url: str) -> str:
    """The origin a delivery goes to; a dead port must not throttle a live one on the host."""
    try:
        return str(URL(url).origin())
    except ValueError:
        return url
