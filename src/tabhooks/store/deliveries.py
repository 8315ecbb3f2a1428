"""Named statements of the delivery queue: claim, finish, inspect, redeliver.

A delivery is ``pending`` until claimed, ``delivering`` while a dispatcher holds its lease, and
then ``succeeded``, ``pending`` again (a retry is due at ``next_attempt_at``) or ``failed``.
A claim sets ``next_attempt_at`` to the lease's expiry, so one condition — status pending or
delivering, and ``next_attempt_at`` past — finds both due work and the work of a dispatcher
that died mid-attempt. Claims are batched; on PostgreSQL concurrent dispatchers skip each
other's rows with ``FOR UPDATE SKIP LOCKED``; on SQLite the single writer lock serialises them.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from json.encoder import encode_basestring
from typing import Any

from sqlalchemy import (
    ColumnClause,
    ColumnElement,
    Select,
    String,
    Text,
    and_,
    bindparam,
    func,
    literal_column,
    null,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from yarl import URL

from tabhooks.clock import utcnow_precise
from tabhooks.store import crypto
from tabhooks.store.backend import backend_of
from tabhooks.store.driver import DriverStatement, insert_into
from tabhooks.store.rows import (
    AttemptRow,
    DestinationParams,
    FinishParams,
    SendingRow,
)
from tabhooks.store.secrets import signs_at
from tabhooks.store.tables import (
    QUEUED_STATUSES,
    UTCDateTime,
    attempts,
    deliveries,
    events,
    relay_routes,
    relay_targets,
    webhook_secrets,
    webhooks,
)


class Status(StrEnum):
    """Where a delivery is in its life."""

    #: Waiting for its first attempt or a retry, due at ``next_attempt_at``.
    PENDING = "pending"
    #: Claimed by a dispatcher; reclaimed by anyone once ``next_attempt_at`` (the lease) passes.
    DELIVERING = "delivering"
    #: A 2xx arrived.
    SUCCEEDED = "succeeded"
    #: Retries are exhausted, the destination is gone, or the webhook was disabled.
    FAILED = "failed"


#: Queued rows (pending or delivering), with the statuses written literally: the claim indexes
#: are partial, and a query uses a partial index only when its condition repeats the index's
#: (a bound parameter does not).
_IS_QUEUED = deliveries.c.status.in_([literal_column(f"'{s}'") for s in QUEUED_STATUSES])


@dataclass(slots=True)
class Claimed:
    """A delivery a dispatcher now holds, with everything needed to send it.

    This and the other per-delivery records here (:class:`AttemptRecord`, :class:`Finish`)
    are treated as immutable but not declared frozen: a frozen dataclass sets every field
    through ``object.__setattr__``, which tripled the cost of making one, and several are made
    per delivery.
    """

    id: str
    #: ``None`` for a relay delivery (see :mod:`tabhooks.relay`).
    webhook_id: str | None
    site_id: str
    url: str
    webhook_enabled: bool
    payload: bytes
    attempts: int
    schedule_base: int
    secrets: tuple[str, ...]
    method: str = "POST"
    headers: tuple[tuple[str, str], ...] = ()
    #: The webhook's consecutive exhausted deliveries when claimed (0 for relays): a success
    #: resets the count only when there is one to reset.
    failures: int = 0


@dataclass(slots=True)
class AttemptRecord:
    """One attempt as the dispatcher saw it."""

    id: str
    delivery_id: str
    number: int
    started_at: datetime
    duration_ms: float
    status_code: int | None
    error: str | None
    detail: str | None
    response_headers: dict[str, str]
    response_body: bytes


@dataclass(slots=True)
class Finish:
    """What to do with a delivery after an attempt (or after deciding not to send)."""

    delivery_id: str
    webhook_id: str | None
    status: Status
    next_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    attempt: AttemptRecord | None
    #: The webhook had exhausted deliveries counted against it (see ``Claimed.failures``).
    had_failures: bool = False


class ClaimForm(StrEnum):
    """Which due rows a claim takes (see :func:`claim_due`)."""

    #: Any destination's.
    ANY = "any"
    #: One destination's: a line taking its own next rows.
    ONE = "one"
    #: Any but those of the destinations named (whose lines are full or pull their own).
    OTHERS = "others"


def due_rows(form: ClaimForm, skipped: ColumnElement[bool]) -> Select[tuple[str]]:
    """The ids of the oldest due rows a claim of ``form`` takes, oldest first, for the back
    ends' claims (:meth:`tabhooks.store.backend.Backend.claim_deliveries`).

    Parameters: ``now``, ``limit``, and ``line`` (the destination) for :attr:`ClaimForm.ONE`.
    Every form reads one of the queued-only indexes in order and stops at ``limit``, so a
    claim costs the same with ten rows queued or a million.

    Args:
        skipped: For :attr:`ClaimForm.OTHERS`, true for a row whose destination is not among
            the skipped ones (each back end passes the list its own way). Rows whose
            destination is not known yet are never skipped.
    """
    due = select(deliveries.c.id).where(
        _IS_QUEUED, deliveries.c.next_attempt_at <= bindparam("now", type_=UTCDateTime())
    )
    if form is ClaimForm.ONE:
        # Not named "destination": an UPDATE takes a parameter named after a column as a
        # value to set (PostgreSQL's claim is an UPDATE).
        due = due.where(deliveries.c.destination == bindparam("line"))
    elif form is ClaimForm.OTHERS:
        due = due.where(or_(deliveries.c.destination.is_(None), skipped))
    return due.order_by(deliveries.c.next_attempt_at).limit(bindparam("limit"))


def sending_columns(claimed: Any) -> list[Any]:
    """What sending needs, for the claimed rows ``claimed`` (a table or a CTE of its rows),
    as :class:`~tabhooks.store.rows.SendingRow` declares it, in its order.

    The sealed columns are read as stored and opened by :func:`_claimed_rows` (opening is
    cached per ciphertext), so SQLite's driver-level statement needs no result processing.
    """
    columns = {
        "id": claimed.c.id,
        "webhook_id": claimed.c.webhook_id,
        "site_id": claimed.c.site_id,
        "attempts": claimed.c.attempts,
        "schedule_base": claimed.c.schedule_base,
        "body": claimed.c.body,
        "destination": claimed.c.destination,
        "url": webhooks.c.url,
        "is_enabled": webhooks.c.is_enabled,
        "consecutive_failures": webhooks.c.consecutive_failures,
        "payload": events.c.payload,
        "relay_url": type_coerce(relay_targets.c.url, Text),
        "relay_method": relay_targets.c.method,
        "relay_headers": type_coerce(relay_targets.c.headers, Text),
        "relay_type": relay_targets.c.type,
        "relay_secret": type_coerce(relay_routes.c.signing_secret, Text),
        # One row per live signing secret, newest first (none: one row with NULL).
        "secret": type_coerce(webhook_secrets.c.secret, Text),
    }
    return [columns[name].label(name) for name in SendingRow._fields]


def with_sending_context(query: Any, claimed: Any) -> Any:
    """``query`` over ``claimed`` joined to its event, webhook, live secrets and relay."""
    now = bindparam("now", type_=UTCDateTime())
    return query.select_from(
        claimed.join(events, events.c.id == claimed.c.event_id)
        .outerjoin(webhooks, webhooks.c.id == claimed.c.webhook_id)
        .outerjoin(
            webhook_secrets,
            and_(webhook_secrets.c.webhook_id == claimed.c.webhook_id, signs_at(now)),
        )
        .outerjoin(relay_targets, relay_targets.c.id == claimed.c.relay_target_id)
        .outerjoin(relay_routes, relay_routes.c.id == relay_targets.c.route_id)
    )


#: Written literally, so the statements' placeholders are exactly the ones they name.
DELIVERING: ColumnClause[str] = literal_column(f"'{Status.DELIVERING.value}'", String)


async def claim_due(
    conn: AsyncConnection,
    *,
    worker_id: str,
    limit: int,
    lease_s: float,
    destination: str | None = None,
    exclude_destinations: Collection[str] = (),
) -> list[Claimed]:
    """Lease up to ``limit`` due deliveries to ``worker_id`` and read what sending needs.

    Oldest due first. The claim itself is the back end's (SQLite's single writer reads then
    leases; PostgreSQL's dispatchers skip each other's locked rows).

    Args:
        destination: Claim only this destination's rows (a line taking its own next rows).
        exclude_destinations: Leave these destinations' rows where they are: their lines at
            this dispatcher are full, or fetch their own rows. Rows whose destination is not
            known yet (NULL) are never excluded.
    """
    rows = await backend_of(conn).claim_deliveries(
        conn,
        worker_id=worker_id,
        limit=limit,
        lease_s=lease_s,
        destination=destination,
        exclude_destinations=exclude_destinations,
    )
    claimed, stale = _claimed_rows(rows)
    if stale:
        await _SET_DESTINATION.execute_many_values(conn, stale)
    return claimed


def _claimed_rows(rows: Sequence[Any]) -> tuple[list[Claimed], list[DestinationParams]]:
    """One :class:`Claimed` per delivery from the claim's rows (one per live secret).

    Also returns the destination of each row whose stored one is missing or outdated (see
    :data:`_SET_DESTINATION`).
    """
    reveal = crypto.installed().reveal  # opening is cached per ciphertext: a dict lookup
    claimed: dict[str, Claimed] = {}
    stale: list[DestinationParams] = []
    payloads: dict[str, bytes] = {}
    for row in map(SendingRow._make, rows):
        known = claimed.get(row.id)
        if known is not None:  # another live secret of the same delivery's webhook
            if row.secret is not None:
                known.secrets = (*known.secrets, reveal(row.secret))
            continue
        if row.webhook_id is not None:
            assert row.url is not None  # the webhook's: the row cascades away with it
            url = row.url
            sent = payloads.get(row.payload)
            if sent is None:
                sent = payloads[row.payload] = row.payload.encode()
            item = Claimed(
                id=row.id,
                webhook_id=row.webhook_id,
                site_id=row.site_id,
                url=url,
                webhook_enabled=bool(row.is_enabled),
                payload=sent,
                attempts=row.attempts,
                schedule_base=row.schedule_base,
                secrets=(reveal(row.secret),) if row.secret is not None else (),
                failures=row.consecutive_failures or 0,
            )
        else:
            assert row.relay_url is not None and row.relay_method is not None
            url = reveal(row.relay_url)
            body = row.body if row.body is not None else row.payload
            item = Claimed(
                id=row.id,
                webhook_id=None,
                site_id=row.site_id,
                url=url,
                webhook_enabled=True,
                payload=body.encode(),
                attempts=row.attempts,
                schedule_base=row.schedule_base,
                # Only generic http targets are signed: Slack, Teams and IFTTT cannot verify.
                secrets=(
                    (reveal(row.relay_secret),)
                    if row.relay_secret and row.relay_type == "http"
                    else ()
                ),
                method=row.relay_method,
                headers=tuple(json.loads(reveal(row.relay_headers or "{}")).items()),
            )
        claimed[row.id] = item
        if row.destination != (found := destination_of(url)):
            stale.append(DestinationParams(found, row.id))
    return list(claimed.values()), stale


#: Record where a claimed row goes when the row did not say, or said where its webhook's
#: URL pointed before it changed: later claims skip or pull it by that destination. Relay
#: deliveries are queued without it (their URL is sealed, and opened only when claimed).
_SET_DESTINATION = DriverStatement(
    update(deliveries)
    .where(deliveries.c.id == bindparam("b_id"))
    .values(destination=bindparam("b_destination")),
    row=DestinationParams,
    prefix="b_",
)


@functools.lru_cache(maxsize=4096)
def destination_of(url: str) -> str:
    """Where a delivery to ``url`` goes: its origin, as aiohttp keys pooled connections.

    Each destination has its own line at a dispatcher, so a dead port does not throttle a
    live one on the same host. A URL without an origin (it cannot be sent anyway) gets a key
    of its own that does not repeat it: relay URLs are secrets.
    """
    try:
        return str(URL(url).origin())
    except ValueError:
        return "unparsable:" + hashlib.sha256(url.encode()).hexdigest()[:16]


_INSERT_ATTEMPTS = insert_into(attempts, AttemptRow)
#: One row per finished delivery; only the dispatcher holding the lease may move it on.
_FINISH = DriverStatement(
    update(deliveries)
    .where(deliveries.c.id == bindparam("b_id"), deliveries.c.leased_by == bindparam("b_worker"))
    .values(
        status=bindparam("b_status"),
        attempts=deliveries.c.attempts + bindparam("b_tried"),
        next_attempt_at=bindparam("b_next_attempt_at"),
        lease_expires_at=null(),
        leased_by=null(),
        last_status=bindparam("b_last_status"),
        last_error=bindparam("b_last_error"),
        updated_at=bindparam("b_now"),
        completed_at=bindparam("b_completed_at"),
    ),
    row=FinishParams,
    prefix="b_",
)
_DONE = (Status.SUCCEEDED, Status.FAILED)


async def finish(conn: AsyncConnection, *, worker_id: str, results: Sequence[Finish]) -> None:
    """Record a batch of attempts and move their deliveries on, in one transaction."""
    if not results:
        return
    now = utcnow_precise()
    # Positional, in the row types' order (a keyword call costs twice as much, per attempt).
    await _INSERT_ATTEMPTS.execute_many_values(
        conn,
        [
            AttemptRow(a.id, a.delivery_id, a.number, a.started_at, a.duration_ms, a.status_code,
                       a.error, a.detail, _headers_json(a.response_headers), a.response_body)
            for r in results
            if (a := r.attempt) is not None
        ],
    )  # fmt: skip
    await _FINISH.execute_many_values(
        conn,
        [
            FinishParams(r.status.value, 1 if r.attempt is not None else 0, r.next_attempt_at,
                         r.last_status, r.last_error, now, now if r.status in _DONE else None,
                         r.delivery_id, worker_id)
            for r in results
        ],
    )  # fmt: skip


def _headers_json(headers: dict[str, str]) -> str:
    """``json.dumps(headers, ensure_ascii=False)``, written out: one per attempt recorded,
    and the generic encoder cost twice as much for a dict of a few strings."""
    q = encode_basestring
    return "{" + ", ".join([f"{q(name)}: {q(value)}" for name, value in headers.items()]) + "}"


async def release(
    conn: AsyncConnection, *, worker_id: str, ids: Sequence[str], at: datetime
) -> None:
    """Hand claimed deliveries back unsent (their destination was saturated)."""
    if ids:
        await conn.execute(
            update(deliveries)
            .where(deliveries.c.id.in_(ids), deliveries.c.leased_by == worker_id)
            .values(
                status=Status.PENDING.value,
                next_attempt_at=at,
                lease_expires_at=None,
                leased_by=None,
            )
        )


async def reset_failures(conn: AsyncConnection, webhook_ids: set[str]) -> None:
    if webhook_ids:
        await conn.execute(
            update(webhooks)
            .where(webhooks.c.id.in_(webhook_ids), webhooks.c.consecutive_failures != 0)
            .values(consecutive_failures=0)
        )


async def count_failure(
    conn: AsyncConnection, webhook_id: str, *, disable_after: int, reason: str
) -> bool:
    """Count one exhausted delivery; disable the webhook at the threshold. True if disabled."""
    await conn.execute(
        update(webhooks)
        .where(webhooks.c.id == webhook_id)
        .values(consecutive_failures=webhooks.c.consecutive_failures + 1)
    )
    return await disable(conn, webhook_id, reason=reason, only_if_failures_at_least=disable_after)


async def disable(
    conn: AsyncConnection, webhook_id: str, *, reason: str, only_if_failures_at_least: int = 0
) -> bool:
    result = await conn.execute(
        update(webhooks)
        .where(
            webhooks.c.id == webhook_id,
            webhooks.c.is_enabled.is_(True),
            webhooks.c.consecutive_failures >= only_if_failures_at_least,
        )
        .values(
            is_enabled=False,
            status_change_reason=reason,
            updated_at=utcnow_precise().replace(microsecond=0),
        )
    )
    return result.rowcount > 0


# ----------------------------------------------------------------------------- inspection


@dataclass(frozen=True, slots=True)
class QueueStats:
    """What ``/metrics`` reports about the queue."""

    depth: int
    oldest_due_age_s: float


async def queue_stats(conn: AsyncConnection) -> QueueStats:
    now = utcnow_precise()
    row = (
        await conn.execute(
            select(func.count(), func.min(deliveries.c.created_at)).where(_IS_QUEUED)
        )
    ).one()
    oldest = (now - row[1]).total_seconds() if row[1] is not None else 0.0
    return QueueStats(int(row[0]), max(0.0, oldest))


def _delivery_columns() -> list[Any]:
    return [
        deliveries,
        events.c.event,
        events.c.resource,
        events.c.resource_name,
        events.c.resource_luid,
        events.c.payload,
        func.coalesce(webhooks.c.name, relay_routes.c.name).label("webhook_name"),
        # Not coalesced in SQL: the relay target's URL is sealed and is opened only when read
        # through its own column (see _delivery_row).
        webhooks.c.url.label("url"),
        relay_targets.c.url.label("relay_url"),
        relay_targets.c.route_id.label("relay_route_id"),
    ]


def _delivery_row(row: Any) -> dict[str, Any]:
    """A delivery with its context; ``url`` is the webhook's, or else the relay target's."""
    found = dict(row._mapping)
    relay_url = found.pop("relay_url")
    if found["url"] is None:
        found["url"] = relay_url
    return found


def _with_context(query: Any) -> Any:
    return (
        query.join(events, events.c.id == deliveries.c.event_id)
        .outerjoin(webhooks, webhooks.c.id == deliveries.c.webhook_id)
        .outerjoin(relay_targets, relay_targets.c.id == deliveries.c.relay_target_id)
        .outerjoin(relay_routes, relay_routes.c.id == relay_targets.c.route_id)
    )


async def list_for_site(
    conn: AsyncConnection,
    site_id: str,
    *,
    webhook_id: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: str | None = None,
    limit: int = 50,
    relay_route_id: str | None = None,
    event: str | None = None,
) -> list[dict[str, Any]]:
    query = _with_context(select(*_delivery_columns()).select_from(deliveries)).where(
        deliveries.c.site_id == site_id
    )
    conditions = []
    if webhook_id:
        conditions.append(deliveries.c.webhook_id == webhook_id)
    if relay_route_id:
        conditions.append(relay_targets.c.route_id == relay_route_id)
    if status:
        conditions.append(deliveries.c.status == status)
    if event:
        conditions.append(events.c.event == event)
    if since:
        conditions.append(deliveries.c.created_at >= since)
    if until:
        conditions.append(deliveries.c.created_at < until)
    if before_id:
        conditions.append(deliveries.c.id < before_id)
    if conditions:
        query = query.where(and_(*conditions))
    rows = await conn.execute(query.order_by(deliveries.c.id.desc()).limit(limit))
    return [_delivery_row(r) for r in rows]


async def get(conn: AsyncConnection, site_id: str, delivery_id: str) -> dict[str, Any] | None:
    row = (
        await conn.execute(
            _with_context(select(*_delivery_columns()).select_from(deliveries)).where(
                deliveries.c.site_id == site_id, deliveries.c.id == delivery_id
            )
        )
    ).first()
    return _delivery_row(row) if row else None


async def attempts_of(conn: AsyncConnection, delivery_id: str) -> list[dict[str, Any]]:
    rows = await conn.execute(
        select(attempts).where(attempts.c.delivery_id == delivery_id).order_by(attempts.c.number)
    )
    return [dict(r._mapping) for r in rows]


async def requeue(
    conn: AsyncConnection,
    site_id: str,
    *,
    delivery_ids: Sequence[str] | None = None,
    failed_since: datetime | None = None,
) -> int:
    """Queue finished deliveries again; their retry schedule restarts from here."""
    now = utcnow_precise()
    query = update(deliveries).where(
        deliveries.c.site_id == site_id,
        deliveries.c.status.in_((Status.SUCCEEDED.value, Status.FAILED.value)),
    )
    if delivery_ids is not None:
        query = query.where(deliveries.c.id.in_(delivery_ids))
    if failed_since is not None:
        query = query.where(
            deliveries.c.status == Status.FAILED.value, deliveries.c.created_at >= failed_since
        )
    result = await conn.execute(
        query.values(
            status=Status.PENDING.value,
            next_attempt_at=now,
            schedule_base=deliveries.c.attempts,
            completed_at=None,
            updated_at=now,
        )
    )
    return result.rowcount
