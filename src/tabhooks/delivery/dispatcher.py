"""The dispatcher: sends queued deliveries, at most so many per destination, and records them.

One dispatcher runs inside ``tabhooks serve`` and alone in ``tabhooks worker``; on PostgreSQL
any number of them share the queue. Work reaches it two ways:

* **hand-off**: a write transaction in this process that emits an event offers the new
  deliveries to the dispatcher; those it has room for are written already leased to it and
  start the moment the transaction commits (see :mod:`tabhooks.store.outbox`);
* **claims**: everything else — retries that came due, work from other processes, rows it had
  no room for, leases a dead worker left behind — is claimed in batches under a lease.

Held deliveries wait in a line per destination (scheme, host and port, as aiohttp pools
connections). At most ``per_destination`` of a line's deliveries are in flight, and at most
``concurrency`` overall; the next one starts the moment one finishes. A line holds at most
:data:`LINE_LIMIT` deliveries; beyond that, work for that destination is left in the store and
claims skip its webhooks until the line has drained, so a slow or dead endpoint holds its own
slots and its own line and cannot starve the rest. A delivery held longer than its lease
allows (a whole attempt must still fit in the lease) is handed back.

A single writer task records finished attempts in batches (one transaction per batch) and moves
each delivery on: succeeded, retry due later, or failed — and counts exhausted deliveries
towards auto-disabling the webhook.

Every send goes through :class:`~tabhooks.delivery.sender.Sender`, which owns the SSRF guard,
timeouts and response cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

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
#: Most deliveries held in one destination's line: a fan-out of 1,000 to one host is held
#: whole, while a dead host's backlog stays in the store.
LINE_LIMIT = 1024
#: Most results written in one transaction.
WRITE_BATCH_MAX = 1000
#: The writer waits this long for more results when only a few are ready and attempts are
#: still in flight: one transaction per few dozen results instead of per result.
WRITE_COALESCE_S = 0.01
WRITE_COALESCE_MIN = 128
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
    #: Most deliveries waiting in one destination's line (see :data:`LINE_LIMIT`).
    line_limit: int = LINE_LIMIT

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


@dataclass(slots=True)
class _Line:
    """One destination's deliveries: those waiting (with when they were leased) and counts."""

    waiting: deque[tuple[Claimed, float]] = field(default_factory=deque)
    in_flight: int = 0
    #: Webhooks seen going to this destination: claims skip them while the line is full.
    webhooks: set[str] = field(default_factory=set)
    #: Work for this destination was left in the store because the line was full.
    spilled: bool = False


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
        self._lines: dict[str, _Line] = {}
        self._origins: dict[str, str] = {}
        #: Destinations with deliveries waiting only because ``concurrency`` was reached.
        self._blocked: dict[str, None] = {}
        self._held = 0  # waiting in a line
        self._in_flight = 0
        self._claimer_wants_room = False
        # A held delivery must still have time for a whole attempt inside its lease.
        self._hold_limit_s = max(0.0, options.lease_s - options.attempt_timeout_s - 5)
        #: Most deliveries held (waiting or in flight) at once.
        self._hold_cap = max(4 * options.concurrency, options.line_limit)
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
        self.store.local_dispatcher = self
        log.info("action=dispatcher_started worker=%s", self.worker_id)

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop taking work, let attempts in flight finish (up to ``grace_s``), record them."""
        if self.store.local_dispatcher is self:
            self.store.local_dispatcher = None
        self._stopping.set()
        self.store.new_work.set()
        if self._loop_task:
            await self._loop_task
        for line in self._lines.values():
            self._released.extend(claimed.id for claimed, _ in line.waiting)
            self._held -= len(line.waiting)
            line.waiting.clear()
        self._blocked.clear()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace_s)
            for task in pending:
                task.cancel()  # their leases expire and another dispatcher takes over
            await asyncio.gather(*pending, return_exceptions=True)
        self._finished_ready.set()
        if self._writer_task:
            await self._writer_task
        log.info("action=dispatcher_stopped worker=%s", self.worker_id)

    # ------------------------------------------------------------------ hand-off

    def open_handoff(self) -> _Handoff:
        """Called by a write transaction that emits deliveries (see the module docstring)."""
        lease_until = utcnow_precise() + timedelta(seconds=self.options.lease_s)
        return _Handoff(self, lease_until, time.monotonic())

    def _refusal(self, origin: str, extra_on_line: int, extra_overall: int) -> str | None:
        """Why one more delivery for ``origin`` may not be held: ``"line"``, ``"full"``, or None."""
        if self._stopping.is_set():
            return "full"
        if self._held + self._in_flight + extra_overall >= self._hold_cap:
            return "full"
        line = self._lines.get(origin)
        waiting, in_flight = (len(line.waiting), line.in_flight) if line else (0, 0)
        # Free slots start at once; the line holds line_limit more.
        free_slots = max(0, self.options.per_destination - in_flight)
        if waiting + extra_on_line >= self.options.line_limit + free_slots:
            return "line"
        return None

    def origin_of(self, url: str) -> str:
        """The destination a URL goes to, keyed like aiohttp's connection pool."""
        origin = self._origins.get(url)
        if origin is None:
            if len(self._origins) > 10_000:
                self._origins.clear()
            origin = self._origins[url] = _destination_key(url)
        return origin

    # ------------------------------------------------------------------ claiming

    async def _claim_loop(self) -> None:
        while not self._stopping.is_set():
            self._release_overdue()
            room = self._hold_cap - self._held - self._in_flight
            asked = min(self.options.batch_size, room)
            if asked < max(1, self.options.batch_size // 4):
                # Nearly full: claim again once sending has made real room.
                self._claimer_wants_room = True
                await self._wait(self.store.new_work)
                continue
            try:
                claimed = await self._claim_once(asked)
            except Exception:
                log.exception("action=claim_failed worker=%s", self.worker_id)
                await asyncio.sleep(self.options.poll_interval_s)
                continue
            if claimed < asked:  # the queue has nothing more due for us right now
                await self._wait(self.store.new_work)
            else:
                # SQLite statements run on the loop thread without awaiting anything, so a run
                # of full claims must yield, or attempts and API requests would never run.
                await asyncio.sleep(0)

    async def _claim_once(self, limit: int) -> int:
        self.store.new_work.clear()
        # Destinations whose line is full: their webhooks' rows stay in the store.
        cap = self.options.line_limit
        full = [line for line in self._lines.values() if len(line.waiting) >= cap]
        skipped = [webhook for line in full for webhook in line.webhooks]
        leased_at = time.monotonic()
        async with self.store.write() as conn:
            batch = await queue.claim_due(
                conn,
                worker_id=self.worker_id,
                limit=limit,
                lease_s=self.options.lease_s,
                exclude_webhooks=skipped,
            )
        for claimed in batch:
            origin = self.origin_of(claimed.url)
            if self._refusal(origin, 0, 0) is None:
                self._hold(claimed, origin, leased_at)
            else:
                self._hand_back(claimed.id, origin)
        return len(batch)

    async def _wait(self, event: asyncio.Event) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout=self.options.poll_interval_s)

    def _hand_back(self, delivery_id: str, origin: str) -> None:
        self._released.append(delivery_id)
        self._finished_ready.set()
        self._spilled(origin)

    def _spilled(self, origin: str) -> None:
        """Work for ``origin`` is in the store, not its line: claim it once the line drains."""
        line = self._lines.get(origin)
        if line is None:
            self.store.new_work.set()  # nothing held for it any more: claim it now
        else:
            line.spilled = True

    def _release_overdue(self) -> None:
        """Hand back deliveries held so long that an attempt would outlive their lease."""
        deadline = time.monotonic() - self._hold_limit_s
        for origin, line in list(self._lines.items()):
            while line.waiting and line.waiting[0][1] < deadline:
                claimed, _ = line.waiting.popleft()
                self._held -= 1
                self._hand_back(claimed.id, origin)
            self._forget_if_idle(origin, line)

    # ------------------------------------------------------------------ lines

    def _hold(self, claimed: Claimed, origin: str, leased_at: float) -> None:
        line = self._lines.get(origin)
        if line is None:
            line = self._lines[origin] = _Line()
        if claimed.webhook_id is not None:
            line.webhooks.add(claimed.webhook_id)
        line.waiting.append((claimed, leased_at))
        self._held += 1
        self._start_ready(origin, line)

    def _start_ready(self, origin: str, line: _Line) -> None:
        """Start the line's deliveries while its destination and the dispatcher have slots."""
        while line.waiting and line.in_flight < self.options.per_destination:
            if self._in_flight >= self.options.concurrency:
                self._blocked[origin] = None
                return
            claimed = self._take_next(line)
            line.in_flight += 1
            self._in_flight += 1
            task = asyncio.create_task(self._deliver(claimed, origin, line))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _take_next(self, line: _Line) -> Claimed:
        """The line's next delivery, for a slot that is about to send it."""
        claimed, _ = line.waiting.popleft()
        self._held -= 1
        if line.spilled and len(line.waiting) <= self.options.line_limit // 2:
            line.spilled = False
            self.store.new_work.set()  # its webhooks are no longer skipped by claims
        return claimed

    def _slot_freed(self, origin: str, line: _Line) -> None:
        line.in_flight -= 1
        self._in_flight -= 1
        if self._stopping.is_set():
            return
        self._start_ready(origin, line)
        while self._blocked and self._in_flight < self.options.concurrency:
            blocked = next(iter(self._blocked))
            del self._blocked[blocked]
            if (other := self._lines.get(blocked)) is not None:
                self._start_ready(blocked, other)
        self._forget_if_idle(origin, line)
        self._wake_claimer_if_room()

    def _wake_claimer_if_room(self) -> None:
        if self._claimer_wants_room and (
            self._hold_cap - self._held - self._in_flight >= self.options.batch_size
        ):
            self._claimer_wants_room = False
            self.store.new_work.set()

    def _forget_if_idle(self, origin: str, line: _Line) -> None:
        if line.waiting or line.in_flight:
            return
        self._lines.pop(origin, None)
        self._blocked.pop(origin, None)
        if line.spilled:
            self.store.new_work.set()  # its work waits in the store: claim it now

    # ------------------------------------------------------------------ sending

    async def _deliver(self, claimed: Claimed, origin: str, line: _Line) -> None:
        """Send ``claimed``, then the line's next deliveries while this slot may keep going.

        A slot goes on with its own line (one task for a run of deliveries, not one each)
        unless another destination waits for a slot, which it then gets.
        """
        try:
            while True:
                try:
                    self._finished.append(await self._attempt(claimed))
                    self._finished_ready.set()
                except Exception:
                    log.exception("action=deliver_failed delivery=%s", claimed.id)
                if not line.waiting or self._blocked or self._stopping.is_set():
                    return
                claimed = self._take_next(line)
                self._wake_claimer_if_room()
        finally:
            self._slot_freed(origin, line)

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
        if claimed.headers:
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
                      last_error, record, claimed.failures > 0)  # fmt: skip

    # ------------------------------------------------------------------ recording

    async def _write_loop(self) -> None:
        while True:
            await self._finished_ready.wait()
            if len(self._finished) < WRITE_COALESCE_MIN and self._in_flight:
                await asyncio.sleep(WRITE_COALESCE_S)  # let a few more results join the batch
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
                {
                    r.webhook_id
                    for r in batch
                    if r.had_failures and r.status is Status.SUCCEEDED and r.webhook_id
                },
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


class _Handoff:
    """What one write transaction offers the dispatcher (see :mod:`tabhooks.store.outbox`)."""

    def __init__(self, dispatcher: Dispatcher, lease_until: datetime, leased_at: float) -> None:
        self.dispatcher = dispatcher
        self.worker_id = dispatcher.worker_id
        self.lease_until = lease_until
        self.leased_at = leased_at
        self.wake_needed = False
        self._taken: list[tuple[Claimed, str]] = []
        self._per_origin: dict[str, int] = {}
        self._spilled: set[str] = set()

    def offer(self, claimed: Claimed) -> bool:
        origin = self.dispatcher.origin_of(claimed.url)
        on_line = self._per_origin.get(origin, 0)
        refusal = self.dispatcher._refusal(origin, on_line, len(self._taken))
        if refusal == "line":
            # Its line is full: claims skip the destination until the line drains.
            self._spilled.add(origin)
            return False
        if refusal is not None:
            self.wake_needed = True  # room overall will come back: claim then
            return False
        self._taken.append((claimed, origin))
        self._per_origin[origin] = on_line + 1
        return True

    def deliver(self) -> None:
        dispatcher = self.dispatcher
        if dispatcher._stopping.is_set():
            return  # leased but not started: the lease expires and a claim takes them over
        for claimed, origin in self._taken:
            dispatcher._hold(claimed, origin, self.leased_at)
        for origin in self._spilled:
            dispatcher._spilled(origin)


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
