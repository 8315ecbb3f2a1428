"""The dispatcher: sends queued deliveries, at most so many per destination, and records them.

One dispatcher runs inside ``tabhooks serve`` and alone in ``tabhooks worker``; on PostgreSQL
any number of them share the queue. Held deliveries wait in a **line** per destination
(scheme, host and port, as aiohttp pools connections). At most ``per_destination`` of a
line's deliveries are in flight, and at most ``concurrency`` overall; the next one starts the
moment one finishes. Work reaches a line three ways:

* **hand-off**: a write transaction in this process that emits an event offers the new
  deliveries to the dispatcher; those their line has room for are written already leased to
  it and start the moment the transaction commits (see :mod:`tabhooks.store.outbox`);
* **pulls**: a line whose destination has rows waiting in the store (it refused a hand-off,
  or filled up from a claim) takes its own next rows — oldest first, as many as it has room
  for — whenever half its room is free, so its slots never run dry while work waits;
* **general claims**: everything else — retries that came due, work from other processes,
  leases a dead worker left behind — is claimed in batches, woken by commits (and NOTIFY on
  PostgreSQL) or by the poll interval. They skip the destinations whose lines are full or
  pull for themselves, so rows are not claimed only to be handed back.

A line holds its slots' worth in flight plus up to :data:`LINE_LIMIT` waiting, fewer for a
slow destination: only as many as can still start within their lease, from the line's recent
attempt times. So a dead or slow endpoint holds its own slots and a short line, its backlog
stays in the store, and it cannot starve the rest. A delivery held longer than its lease
allows (a whole attempt must still fit in the lease) is handed back.

A single writer task records finished attempts in batches (one transaction per batch) and moves
each delivery on: succeeded, retry due later, or failed — and counts exhausted deliveries
towards auto-disabling the webhook.

Every send goes through :class:`~tabhooks.delivery.sender.Sender`, which owns the SSRF guard,
timeouts and response cap. docs/delivery.md walks through lines, claims and the hand-off.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from tabhooks.clock import utcnow_precise
from tabhooks.config import Settings
from tabhooks.delivery import signing
from tabhooks.delivery.metrics import DeliveryMetrics
from tabhooks.delivery.retry import RetryPolicy
from tabhooks.delivery.sender import Sender
from tabhooks.ids import new_id
from tabhooks.store import Store
from tabhooks.store import deliveries as queue
from tabhooks.store.deliveries import AttemptRecord, Claimed, Finish, Status, destination_of

log = logging.getLogger(__name__)

#: How long a delivery handed back (held past its lease's margin) waits before it is due again.
SATURATED_BACKOFF_S = 0.25
#: Most deliveries waiting in one destination's line: a fan-out of 1,000 to one host is held
#: whole, while a dead host's backlog stays in the store.
LINE_LIMIT = 1024
#: Weight of the newest attempt in a line's running mean of attempt times.
PACE_WEIGHT = 0.1
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
    #: Most deliveries the line holds, waiting and in flight (see ``Dispatcher._capacity``).
    capacity: int = 0
    #: The store may hold due rows for this destination which general claims leave alone:
    #: the line pulls them itself whenever it has room.
    backlog: bool = False
    #: A pull for this line waits its turn in the claim loop.
    pull_queued: bool = False

    @property
    def held(self) -> int:
        return len(self.waiting) + self.in_flight


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
        #: Recent mean seconds per attempt, by destination; kept when a line goes idle, so a
        #: dead destination's next line is short from the start.
        self._pace: dict[str, float] = {}
        #: Destinations whose lines asked for a pull, in the order they asked.
        self._pulls: dict[str, None] = {}
        #: Wakes the claim loop for pulls and for room; commits wake it through the store.
        self._wake = asyncio.Event()
        #: Destinations with deliveries waiting only because ``concurrency`` was reached.
        self._blocked: dict[str, None] = {}
        self._held = 0  # waiting in a line
        self._in_flight = 0
        self._claimer_wants_room = False
        # A held delivery must still have time for a whole attempt inside its lease.
        self._hold_limit_s = max(0.0, options.lease_s - options.attempt_timeout_s - 5)
        #: Most deliveries held (waiting or in flight) at once.
        self._hold_cap = max(4 * options.concurrency, options.line_limit)
        #: A line's capacity when its pace does not bound it (see ``_capacity_at``): when its
        #: slots can start this many rounds of attempts within the hold limit.
        self._full_capacity = options.per_destination + options.line_limit
        self._rounds_per_line = -(-options.line_limit // options.per_destination)
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
        """Stop taking work, let attempts in flight finish (up to ``grace_s``), record them."""
        self._stopping.set()
        self._wake.set()
        if self._loop_task:
            await self._loop_task
        for line in self._lines.values():
            self._released.extend(claimed.id for claimed, _ in line.waiting)
            self._held -= len(line.waiting)
            line.waiting.clear()
        self._blocked.clear()
        self._pulls.clear()
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

    def open_handoff(self) -> Handoff:
        """A hand-off for one write transaction's deliveries: the outbox's port (see
        :func:`tabhooks.store.outbox.connect`, which :mod:`tabhooks.delivery.runtime` calls)."""
        lease_until = utcnow_precise() + timedelta(seconds=self.options.lease_s)
        return Handoff(self, lease_until, time.monotonic())

    def refusal(self, origin: str, *, taken_on_line: int, taken_overall: int) -> Refusal | None:
        """Why one more delivery for ``origin`` may not be held, or None if it may.

        Args:
            taken_on_line: Deliveries for ``origin`` already taken by the asking hand-off
                (not held yet: its transaction has not committed).
            taken_overall: Deliveries that hand-off took in all.
        """
        if self._stopping.is_set():
            return Refusal.FULL
        if self._held + self._in_flight + taken_overall >= self._hold_cap:
            return Refusal.FULL
        line = self._lines.get(origin)
        if line is None:
            held, capacity = 0, self._capacity(origin)
        else:  # a line's capacity is kept current (see _observe_pace)
            held, capacity = line.held, line.capacity
        if held + taken_on_line >= capacity:
            return Refusal.LINE
        return None

    def take(
        self, taken: Sequence[tuple[Claimed, str]], leased_at: float, left: Iterable[str]
    ) -> None:
        """Hold what a committed hand-off took; its lines pull what it ``left`` in the store.

        Args:
            taken: Deliveries with their destinations, leased to this dispatcher at
                ``leased_at`` (``time.monotonic()``) by the committed transaction.
            left: Destinations whose lines refused deliveries, now ``pending`` in the store.
        """
        if self._stopping.is_set():
            return  # leased but not started: the lease expires and a claim takes them over
        self.metrics.observe_handoff(len(taken))
        for claimed, origin in taken:
            self._hold(claimed, origin, leased_at)
        for origin in left:
            self._set_backlog(origin, self._line(origin))

    def origin_of(self, url: str) -> str:
        """The destination a URL goes to (:func:`tabhooks.store.deliveries.destination_of`)."""
        return destination_of(url)

    def _capacity(self, origin: str) -> int:
        """Most deliveries ``origin``'s line holds (see :meth:`_capacity_at`)."""
        return self._capacity_at(self._pace.get(origin))

    def _capacity_at(self, pace: float | None) -> int:
        """Most deliveries a line holds at ``pace`` (recent seconds per attempt): its slots,
        and as many waiting as can still start within their lease (up to the line limit).

        The usual pace, at which the line limit is the bound, is answered without arithmetic:
        this runs once per attempt.
        """
        rounds = self._hold_limit_s // pace if pace is not None and pace > 0 else None
        if rounds is None or rounds >= self._rounds_per_line:
            return self._full_capacity
        per_destination = self.options.per_destination
        return per_destination + min(self.options.line_limit, per_destination * int(rounds))

    # ------------------------------------------------------------------ claiming

    async def _claim_loop(self) -> None:
        """Serve the lines' pulls first, then claim whatever else is due, then sleep.

        A general claim runs when a commit or NOTIFY said there is new work, when the
        previous one came back full (there may be more), or every ``poll_interval_s``;
        between those the loop sleeps, so nothing spins on rows it may not take.
        """
        general_at = 0.0  # when the next general claim is due regardless of signals
        while not self._stopping.is_set():
            self._release_overdue()
            try:
                if self._pulls:
                    await self._pull(next(iter(self._pulls)))
                    # Statements on SQLite run on the loop thread without awaiting anything:
                    # let attempts and API requests run between claims.
                    await asyncio.sleep(0)
                    continue
                if self.store.new_work.is_set() or time.monotonic() >= general_at:
                    self.store.new_work.clear()
                    if await self._claim_general():
                        await asyncio.sleep(0)
                        continue  # it came back full: there may be more
                    general_at = time.monotonic() + self.options.poll_interval_s
            except Exception:
                log.exception("action=claim_failed worker=%s", self.worker_id)
                general_at = time.monotonic() + self.options.poll_interval_s
            await self._sleep(max(0.0, general_at - time.monotonic()))

    async def _sleep(self, timeout_s: float) -> None:
        """Until a commit signals new work, a line wants a pull, or ``timeout_s`` passes."""
        if self._pulls or self.store.new_work.is_set() or self._stopping.is_set():
            return
        self._wake.clear()  # set only with a pull queued, or by stop(): both checked above
        waits = [
            asyncio.ensure_future(self.store.new_work.wait()),
            asyncio.ensure_future(self._wake.wait()),
        ]
        try:
            await asyncio.wait(waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()

    def _room(self) -> int:
        """How many more deliveries the dispatcher may hold overall."""
        return self._hold_cap - self._held - self._in_flight

    async def _claim_general(self) -> bool:
        """Claim due rows of every destination but those whose lines fetch their own.

        Returns:
            True when the claim came back full, so there may be more to claim at once.
        """
        asked = min(self.options.batch_size, self._room())
        if asked < max(1, self.options.batch_size // 4):
            self._claimer_wants_room = True  # nearly full: claim again once sending made room
            return False
        skipped = [
            origin
            for origin, line in self._lines.items()
            if line.backlog or line.held >= line.capacity
        ]
        batch = await self._claim(asked, "claim", exclude_destinations=skipped)
        full = len(batch) == asked
        for origin, line in list(self._lines.items()):
            if full and line.held >= line.capacity:
                # Skipped from the next claim on, while rows for it may still be due: the
                # line pulls them itself as it drains.
                self._set_backlog(origin, line)
        return full

    async def _pull(self, origin: str) -> None:
        """Fill ``origin``'s line from the store's rows for that destination, oldest first."""
        del self._pulls[origin]
        line = self._lines.get(origin)
        if line is None:
            return
        try:
            room = min(line.capacity - line.held, self._room())
            if not line.backlog or room <= 0:
                if line.backlog and line.held < line.capacity:
                    self._claimer_wants_room = True  # the dispatcher is full: pull when room
                return
            batch = await self._claim(room, "pull", destination=origin)
            if len(batch) < room:
                line.backlog = False  # nothing more is due for it now; general claims take over
        finally:
            # Only now: a pull asked for while this one ran would have taken less than it.
            line.pull_queued = False
        self._want_rows(origin, line)
        self._forget_if_idle(origin, line)

    async def _claim(
        self,
        limit: int,
        form: str,
        *,
        destination: str | None = None,
        exclude_destinations: list[str] | None = None,
    ) -> list[Claimed]:
        leased_at = time.monotonic()
        async with self.store.write() as conn:
            batch = await queue.claim_due(
                conn,
                worker_id=self.worker_id,
                limit=limit,
                lease_s=self.options.lease_s,
                destination=destination,
                exclude_destinations=exclude_destinations or (),
            )
        self.metrics.observe_claim(form, len(batch))
        for claimed in batch:
            origin = destination_of(claimed.url)
            line = self._lines.get(origin)
            if line is not None and line.held >= line.capacity + self.options.batch_size:
                # Only rows whose destination the store did not know yet (relay deliveries
                # and rows queued before it was recorded) get here: the claim has now written
                # it, and the line pulls them once it has room.
                self._hand_back(claimed.id, origin)
            else:
                self._hold(claimed, origin, leased_at)
        return batch

    def _hand_back(self, delivery_id: str, origin: str) -> None:
        self.metrics.handed_back += 1
        self._released.append(delivery_id)
        self._finished_ready.set()
        line = self._lines.get(origin)
        if line is not None:
            self._set_backlog(origin, line)
        else:
            self.store.new_work.set()  # nothing held for it any more: a general claim takes it

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

    def _line(self, origin: str) -> _Line:
        line = self._lines.get(origin)
        if line is None:
            line = self._lines[origin] = _Line(capacity=self._capacity(origin))
        return line

    def _hold(self, claimed: Claimed, origin: str, leased_at: float) -> None:
        line = self._line(origin)
        line.waiting.append((claimed, leased_at))
        self._held += 1
        self._start_ready(origin, line)

    def _set_backlog(self, origin: str, line: _Line) -> None:
        """Rows for ``origin`` wait in the store: the line pulls them as soon as it has room."""
        line.backlog = True
        self._want_rows(origin, line)

    def _want_rows(self, origin: str, line: _Line) -> None:
        """Queue a pull once half the line's waiting room (or a slot, if it has none) is free.

        Pulling before the line runs dry keeps its slots busy while the pull is under way;
        pulling only then makes each pull worth a round trip.
        """
        if not line.backlog or line.pull_queued or self._stopping.is_set():
            return
        room = line.capacity - line.held
        if room >= max(1, (line.capacity - self.options.per_destination) // 2):
            line.pull_queued = True
            self._pulls[origin] = None
            self._wake.set()

    def _start_ready(self, origin: str, line: _Line) -> None:
        """Start the line's deliveries while its destination and the dispatcher have slots."""
        while line.waiting and line.in_flight < self.options.per_destination:
            if self._in_flight >= self.options.concurrency:
                self._blocked[origin] = None
                return
            claimed = self._take_next(origin, line)
            line.in_flight += 1
            self._in_flight += 1
            task = asyncio.create_task(self._deliver(claimed, origin, line))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _take_next(self, origin: str, line: _Line) -> Claimed:
        """The line's next delivery, for a slot that is about to send it."""
        claimed, _ = line.waiting.popleft()
        self._held -= 1
        if line.backlog:  # (checked here too: this runs once per delivery)
            self._want_rows(origin, line)
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
        self._want_rows(origin, line)
        self._forget_if_idle(origin, line)
        self._wake_claimer_if_room()

    def _wake_claimer_if_room(self) -> None:
        if self._claimer_wants_room and self._room() >= self.options.batch_size:
            self._claimer_wants_room = False
            self.store.new_work.set()
            for origin, line in self._lines.items():
                self._want_rows(origin, line)

    def _forget_if_idle(self, origin: str, line: _Line) -> None:
        if line.held or line.backlog or line.pull_queued:
            return
        self._lines.pop(origin, None)
        self._blocked.pop(origin, None)

    def _observe_pace(self, origin: str, line: _Line, seconds: float) -> None:
        """Fold one attempt's time into the destination's pace and resize its line."""
        pace = self._pace.get(origin)
        if pace is None and len(self._pace) > 10_000:
            self._pace.clear()
        pace = seconds if pace is None else pace + PACE_WEIGHT * (seconds - pace)
        self._pace[origin] = pace
        line.capacity = self._capacity_at(pace)

    # ------------------------------------------------------------------ sending

    async def _deliver(self, claimed: Claimed, origin: str, line: _Line) -> None:
        """Send ``claimed``, then the line's next deliveries while this slot may keep going.

        A slot goes on with its own line (one task for a run of deliveries, not one each)
        unless another destination waits for a slot, which it then gets.
        """
        try:
            while True:
                started = time.monotonic()
                try:
                    self._finished.append(await self._attempt(claimed))
                    self._finished_ready.set()
                except Exception:
                    log.exception("action=deliver_failed delivery=%s", claimed.id)
                self._observe_pace(origin, line, time.monotonic() - started)
                if not line.waiting or self._blocked or self._stopping.is_set():
                    return
                claimed = self._take_next(origin, line)
                if self._claimer_wants_room:
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


class Refusal(StrEnum):
    """Why a dispatcher will not hold one more delivery."""

    #: Its destination's line is full: the line pulls it from the store as it drains.
    LINE = "line"
    #: The dispatcher holds all it may (or is stopping): a claim takes it once there is room.
    FULL = "full"


class Handoff:
    """What one write transaction offers a dispatcher (:class:`tabhooks.store.outbox.Handoff`).

    The outbox offers each delivery as it writes it; what is taken is written leased to the
    dispatcher, and handed over by :meth:`deliver` once the transaction has committed.
    """

    def __init__(self, dispatcher: Dispatcher, lease_until: datetime, leased_at: float) -> None:
        self.dispatcher = dispatcher
        self.worker_id = dispatcher.worker_id
        self.lease_until = lease_until
        self.leased_at = leased_at
        self.wake_needed = False
        self._taken: list[tuple[Claimed, str]] = []
        self._per_origin: dict[str, int] = {}
        self._left: set[str] = set()

    def offer(self, claimed: Claimed) -> bool:
        origin = destination_of(claimed.url)
        on_line = self._per_origin.get(origin, 0)
        refusal = self.dispatcher.refusal(
            origin, taken_on_line=on_line, taken_overall=len(self._taken)
        )
        if refusal is Refusal.LINE:
            self._left.add(origin)
            return False
        if refusal is not None:
            self.wake_needed = True  # room overall will come back: claim then
            return False
        self._taken.append((claimed, origin))
        self._per_origin[origin] = on_line + 1
        return True

    def deliver(self) -> None:
        self.dispatcher.take(self._taken, self.leased_at, self._left)


def _exhausted_reason(result: Finish, disable_after: int) -> str:
    last = f"HTTP {result.last_status}" if result.last_status else (result.last_error or "error")
    deliveries = "delivery" if disable_after == 1 else f"{disable_after} deliveries in a row"
    return (
        f"Webhook disabled automatically: {deliveries} failed after every retry "
        f"(last attempt: {last})."
    )
