"""The transactional outbox: an event and its deliveries, written with the change itself.

:func:`emit` is called inside a use case's write transaction. It stores the event once and one
delivery per enabled webhook of the site subscribed to it. If the transaction rolls back,
nothing was emitted; once it commits, the deliveries will be made even if the process dies the
next instant.

When a dispatcher runs in the same process (``tabhooks serve``), it is connected to the store
as the outbox's :class:`HandoffPort` (:func:`connect`, at wiring time). Each write transaction
that emits then opens one :class:`Handoff` from it: the rows it has room for are written
already claimed — ``delivering``, under its lease, exactly as a claim would leave them — and
handed over in memory by an :func:`~tabhooks.store.engine.after_commit` callback. Fresh events
then cost no claim round trip and go out within a millisecond of the commit; if the process
dies before sending, the lease expires and any dispatcher takes the rows over, as after any
crash. Rows it has no room for stay ``pending`` and dispatchers are woken to claim them
(in-process after commit, and ``NOTIFY`` on PostgreSQL, which PostgreSQL itself delays until
commit). The store itself knows nothing of dispatchers.
"""

from __future__ import annotations

import weakref
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Text, and_, bindparam, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncConnection

from tabhooks import events as catalog
from tabhooks.clock import utcnow_precise
from tabhooks.ids import new_id, new_uuid7
from tabhooks.store import crypto
from tabhooks.store.backend import backend_of
from tabhooks.store.deliveries import Claimed, Status, destination_of
from tabhooks.store.driver import DriverStatement, insert_into
from tabhooks.store.engine import Store, after_commit, write_scope
from tabhooks.store.rows import DeliveryRow, EventRow, Subscriber
from tabhooks.store.secrets import signs_at
from tabhooks.store.tables import deliveries, events, webhook_secrets, webhooks

#: The PostgreSQL channel dispatchers LISTEN on.
NOTIFY_CHANNEL = "tabhooks_deliveries"
DELIVERY_ID_PREFIX = "msg_"


class Handoff(Protocol):
    """Deliveries one transaction passes to the in-process dispatcher (see the module doc)."""

    worker_id: str
    lease_until: datetime
    #: True when a refused delivery could be claimed right away (room ran out overall, not
    #: just on its destination's line), so the claim loop should be woken.
    wake_needed: bool

    def offer(self, claimed: Claimed) -> bool:
        """Take ``claimed`` if there is room; False leaves it ``pending`` in the store."""
        ...

    def deliver(self) -> None:
        """Start sending what was taken; called only after the transaction committed."""
        ...


class HandoffPort(Protocol):
    """Where the outbox hands deliveries over: a dispatcher in this process."""

    def open_handoff(self) -> Handoff:
        """A hand-off for one write transaction's deliveries."""
        ...


#: The port connected to each store in this process (see :func:`connect`).
_ports: weakref.WeakKeyDictionary[Store, HandoffPort] = weakref.WeakKeyDictionary()


def connect(store: Store, port: HandoffPort | None) -> None:
    """Offer deliveries emitted on ``store`` to ``port`` from now on (None: to nobody)."""
    if port is None:
        _ports.pop(store, None)
    else:
        _ports[store] = port


_INSERT_EVENT = insert_into(events, EventRow)
_INSERT_DELIVERIES = insert_into(deliveries, DeliveryRow)
_DELIVERING = Status.DELIVERING.value
_PENDING = Status.PENDING.value
#: Every enabled subscriber with its live signing secrets (newest first): one statement gives
#: the hand-off everything a claim would have read. The secrets are read as stored (sealed)
#: on every database — on SQLite the statement skips SQLAlchemy's result processing — and
#: opened by :func:`_grouped`.
_SUBSCRIBERS = DriverStatement(
    select(
        webhooks.c.id,
        webhooks.c.url,
        webhooks.c.consecutive_failures,
        type_coerce(webhook_secrets.c.secret, Text),
    )
    .outerjoin(
        webhook_secrets,
        and_(webhook_secrets.c.webhook_id == webhooks.c.id, signs_at(bindparam("now"))),
    )
    .where(
        webhooks.c.site_id == bindparam("site_id"),
        webhooks.c.event == bindparam("event"),
        webhooks.c.is_enabled.is_(True),
    )
    .order_by(webhooks.c.id, webhook_secrets.c.created_at.desc()),
    sees_deferred_rows=False,  # it reads webhooks and secrets, never events or deliveries
)


async def emit(conn: AsyncConnection, occurrence: catalog.Occurrence) -> int:
    """Record ``occurrence`` and queue it for every matching enabled webhook.

    Returns:
        How many deliveries were queued (0 when no webhook listens; the event is kept anyway,
        so the history shows what happened).
    """
    now = _transaction_now(conn)
    event_id = new_uuid7()
    payload = catalog.payload(occurrence)
    subscribers = await _subscribers(conn, occurrence, now)
    site_id = occurrence.site_luid
    await _INSERT_EVENT.defer_values(
        conn,
        [
            EventRow(
                id=event_id,
                site_id=site_id,
                event=occurrence.event.name,
                resource=str(occurrence.resource),
                resource_name=occurrence.resource_name,
                resource_luid=occurrence.resource_luid,
                payload=payload.decode(),
                created_at=occurrence.created_at,
            )
        ],
    )
    handoff = _handoff(conn)
    rows: list[DeliveryRow] = []
    kept_pending = False
    for subscriber in subscribers:
        delivery_id = new_id(DELIVERY_ID_PREFIX)
        if handoff is not None and handoff.offer(
            Claimed(
                id=delivery_id,
                webhook_id=subscriber.webhook_id,
                site_id=site_id,
                url=subscriber.url,
                webhook_enabled=True,
                payload=payload,
                attempts=0,
                schedule_base=0,
                secrets=subscriber.secrets,
                failures=subscriber.failures,
            )
        ):
            status, due, leased_by = _DELIVERING, handoff.lease_until, handoff.worker_id
            lease_expires_at: datetime | None = due
        else:
            status, due, leased_by, lease_expires_at = _PENDING, now, None, None
            kept_pending = True
        # Positional, in DeliveryRow's order: one per delivery, and a keyword call of a named
        # tuple costs twice as much (its fields are right above the class, in rows.py).
        rows.append(
            DeliveryRow(delivery_id, event_id, subscriber.webhook_id, site_id, status, 0, 0,
                        due, lease_expires_at, leased_by, now, now, subscriber.destination)
        )  # fmt: skip
    # Deferred: a transaction emitting many events writes each table's rows in one call.
    await _INSERT_DELIVERIES.defer_values(conn, rows)
    # Rows left pending need a claim. In this process that is worth a wake-up only when the
    # dispatcher could take them now; other PostgreSQL workers may have room in any case.
    if kept_pending and (handoff is None or handoff.wake_needed or backend_of(conn).shared):
        await signal_new_work(conn)
    return len(rows)


_SUBSCRIBERS_MEMO = "outbox.subscribers"
_CLEAN_AT = "outbox.clean_at"
_NOW = "outbox.now"


async def _subscribers(
    conn: AsyncConnection, occurrence: catalog.Occurrence, now: datetime
) -> list[Subscriber]:
    """The site's enabled webhooks for the event, with their live secrets.

    A transaction that emits many events (a bulk change, a batch of job results) asks the
    same question again and again; where the back end offers a transaction memo (SQLite),
    the answer is remembered for the rest of the transaction for as long as nothing has
    written since it was read (any write by any statement forgets it; the outbox's own rows
    are deferred and write nothing until another statement runs).
    """
    key = (occurrence.site_luid, occurrence.event.name)
    memo = backend_of(conn).transaction_memo(conn)
    if memo is None:
        return await _read_subscribers(conn, key, now)
    known: dict[tuple[str, str], list[Subscriber]] = memo.values.setdefault(_SUBSCRIBERS_MEMO, {})
    if not memo.unchanged_since(memo.values.get(_CLEAN_AT)):
        known.clear()
    found = known.get(key)
    if found is None:
        found = known[key] = await _read_subscribers(conn, key, now)
        memo.values[_CLEAN_AT] = memo.mark()
    return found


async def _read_subscribers(
    conn: AsyncConnection, key: tuple[str, str], now: datetime
) -> list[Subscriber]:
    site_id, event = key
    rows = await _SUBSCRIBERS.execute(conn, {"site_id": site_id, "event": event, "now": now})
    return _grouped(rows)


def _transaction_now(conn: AsyncConnection) -> datetime:
    """When this transaction first emitted: every delivery it queues carries that time (as
    PostgreSQL's ``now()`` is the transaction's start)."""
    values = write_scope(conn).values
    now: datetime | None = values.get(_NOW)
    if now is None:
        now = values[_NOW] = utcnow_precise()
    return now


_HANDOFF = "outbox.handoff"
_SIGNALLED = "outbox.signalled"


def _handoff(conn: AsyncConnection) -> Handoff | None:
    """This transaction's hand-off to the connected port, opened on first use; what it took
    is handed over after commit."""
    scope = write_scope(conn)
    batch: Handoff | None = scope.values.get(_HANDOFF)
    if batch is None:
        port = _ports.get(scope.store)
        if port is None:
            return None
        batch = scope.values[_HANDOFF] = port.open_handoff()
        after_commit(conn, batch.deliver)
    return batch


def _grouped(rows: Any) -> list[Subscriber]:
    """One entry per webhook from the subscriber rows (one row per live secret)."""
    grouped: dict[str, tuple[str, str, int, list[str]]] = {}
    for webhook_id, url, failures, secret in rows:
        entry = grouped.get(webhook_id)
        if entry is None:
            entry = grouped[webhook_id] = (webhook_id, url, failures or 0, [])
        if secret is not None:
            entry[3].append(crypto.installed().reveal(secret))  # cached: a dict lookup
    return [Subscriber(w, u, f, tuple(s), destination_of(u)) for w, u, f, s in grouped.values()]


async def signal_new_work(conn: AsyncConnection) -> None:
    """Wake dispatchers once this transaction commits (one NOTIFY per transaction: a
    transaction emitting fifty events paid fifty round trips for one wake-up)."""
    scope = write_scope(conn)
    if scope.values.get(_SIGNALLED):
        return
    scope.values[_SIGNALLED] = True
    after_commit(conn, scope.store.new_work.set)
    await backend_of(conn).notify(conn, NOTIFY_CHANNEL)
