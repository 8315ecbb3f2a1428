"""Named statements of the delivery queue: claim, finish, inspect, redeliver.

A delivery is ``pending`` until claimed, ``delivering`` while a dispatcher holds its lease, and
then ``succeeded``, ``pending`` again (a retry is due at ``next_attempt_at``) or ``failed``.
A claim sets ``next_attempt_at`` to the lease's expiry, so one condition — status pending or
delivering, and ``next_attempt_at`` past — finds both due work and the work of a dispatcher
that died mid-attempt. Claims are batched; on PostgreSQL concurrent dispatchers skip each
other's rows with ``FOR UPDATE SKIP LOCKED``; on SQLite the single writer lock serialises them.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from json.encoder import encode_basestring
from typing import Any

from sqlalchemy import and_, bindparam, func, null, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tabhooks.store.driver import DriverStatement, insert_into
from tabhooks.store.secrets import signs_at
from tabhooks.store.tables import (
    attempts,
    deliveries,
    events,
    relay_routes,
    relay_targets,
    utcnow_precise,
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


_QUEUED = (Status.PENDING.value, Status.DELIVERING.value)


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


async def claim_due(
    conn: AsyncConnection,
    *,
    worker_id: str,
    limit: int,
    lease_s: float,
    exclude_webhooks: Collection[str] = (),
) -> list[Claimed]:
    """Lease up to ``limit`` due deliveries to ``worker_id`` and read what sending needs.

    Args:
        exclude_webhooks: Webhooks whose destination already has a full line at this
            dispatcher; their rows stay where they are instead of being claimed and handed
            straight back.
    """
    now = utcnow_precise()
    lease_until = now + timedelta(seconds=lease_s)
    due = (
        select(deliveries.c.id)
        .where(deliveries.c.status.in_(_QUEUED), deliveries.c.next_attempt_at <= now)
        .order_by(deliveries.c.next_attempt_at)
        .limit(limit)
    )
    if exclude_webhooks:
        due = due.where(
            or_(
                deliveries.c.webhook_id.is_(None),
                deliveries.c.webhook_id.not_in(list(exclude_webhooks)),
            )
        )
    claim = update(deliveries).values(
        status=Status.DELIVERING.value,
        next_attempt_at=lease_until,
        lease_expires_at=lease_until,
        leased_by=worker_id,
        updated_at=now,
    )
    if conn.dialect.name == "postgresql":
        result = await conn.execute(
            claim.where(
                deliveries.c.id.in_(due.with_for_update(skip_locked=True).scalar_subquery())
            ).returning(deliveries.c.id)
        )
        ids = [row.id for row in result]
    else:
        ids = list((await conn.execute(due)).scalars())
        if ids:
            await conn.execute(claim.where(deliveries.c.id.in_(ids)))
    if not ids:
        return []
    rows = (
        await conn.execute(
            select(
                deliveries.c.id,
                deliveries.c.webhook_id,
                deliveries.c.site_id,
                deliveries.c.attempts,
                deliveries.c.schedule_base,
                deliveries.c.body,
                webhooks.c.url,
                webhooks.c.is_enabled,
                webhooks.c.consecutive_failures,
                events.c.payload,
                relay_targets.c.url.label("relay_url"),
                relay_targets.c.method.label("relay_method"),
                relay_targets.c.headers.label("relay_headers"),
                relay_targets.c.type.label("relay_type"),
                relay_routes.c.signing_secret.label("relay_secret"),
            )
            .join(events, events.c.id == deliveries.c.event_id)
            .outerjoin(webhooks, webhooks.c.id == deliveries.c.webhook_id)
            .outerjoin(relay_targets, relay_targets.c.id == deliveries.c.relay_target_id)
            .outerjoin(relay_routes, relay_routes.c.id == relay_targets.c.route_id)
            .where(deliveries.c.id.in_(ids))
        )
    ).all()
    secrets = await _live_secrets(conn, {r.webhook_id for r in rows if r.webhook_id}, now)
    return [_claimed(row, secrets) for row in rows]


def _claimed(row: Any, secrets: dict[str, tuple[str, ...]]) -> Claimed:
    if row.webhook_id is not None:
        return Claimed(
            id=row.id,
            webhook_id=row.webhook_id,
            site_id=row.site_id,
            url=row.url,
            webhook_enabled=bool(row.is_enabled),
            payload=row.payload.encode(),
            attempts=row.attempts,
            schedule_base=row.schedule_base,
            secrets=secrets.get(row.webhook_id, ()),
            failures=row.consecutive_failures or 0,
        )
    body = row.body if row.body is not None else row.payload
    return Claimed(
        id=row.id,
        webhook_id=None,
        site_id=row.site_id,
        url=row.relay_url,
        webhook_enabled=True,
        payload=body.encode(),
        attempts=row.attempts,
        schedule_base=row.schedule_base,
        # Only generic http targets are signed: Slack, Teams and IFTTT cannot verify.
        secrets=(row.relay_secret,) if row.relay_secret and row.relay_type == "http" else (),
        method=row.relay_method,
        headers=tuple(json.loads(row.relay_headers or "{}").items()),
    )


async def _live_secrets(
    conn: AsyncConnection, webhook_ids: set[str], now: datetime
) -> dict[str, tuple[str, ...]]:
    if not webhook_ids:
        return {}
    rows = await conn.execute(
        select(webhook_secrets.c.webhook_id, webhook_secrets.c.secret)
        .where(
            webhook_secrets.c.webhook_id.in_(webhook_ids),
            signs_at(now),
        )
        .order_by(webhook_secrets.c.created_at.desc())
    )
    out: dict[str, list[str]] = {}
    for row in rows:
        out.setdefault(row.webhook_id, []).append(row.secret)
    return {k: tuple(v) for k, v in out.items()}


_INSERT_ATTEMPTS = insert_into(
    attempts,
    ("id", "delivery_id", "number", "started_at", "duration_ms", "status_code", "error",
     "detail", "response_headers", "response_body"),
)  # fmt: skip
#: One row per finished delivery; only the dispatcher holding the lease may move it on.
_FINISH = DriverStatement(
    update(deliveries)
    .where(deliveries.c.id == bindparam("b_id"), deliveries.c.leased_by == bindparam("b_worker"))
    .values(
        status=bindparam("b_status"),
        attempts=deliveries.c.attempts + bindparam("b_tried"),
        next_attempt_at=bindparam("b_next"),
        lease_expires_at=null(),
        leased_by=null(),
        last_status=bindparam("b_last_status"),
        last_error=bindparam("b_last_error"),
        updated_at=bindparam("b_now"),
        completed_at=bindparam("b_completed"),
    ),
    # Rows are given positionally, SET clause then WHERE.
    order=("b_status", "b_tried", "b_next", "b_last_status", "b_last_error", "b_now",
           "b_completed", "b_id", "b_worker"),
)  # fmt: skip
_DONE = (Status.SUCCEEDED, Status.FAILED)


async def finish(conn: AsyncConnection, *, worker_id: str, results: Sequence[Finish]) -> None:
    """Record a batch of attempts and move their deliveries on, in one transaction."""
    if not results:
        return
    now = utcnow_precise()
    # In _INSERT_ATTEMPTS' column order.
    await _INSERT_ATTEMPTS.execute_many_values(
        conn,
        [
            (a.id, a.delivery_id, a.number, a.started_at, a.duration_ms, a.status_code, a.error,
             a.detail, _headers_json(a.response_headers), a.response_body)
            for r in results
            if (a := r.attempt) is not None
        ],
    )  # fmt: skip
    # In _FINISH's placeholder order.
    await _FINISH.execute_many_values(
        conn,
        [
            (r.status.value, 1 if r.attempt is not None else 0, r.next_attempt_at, r.last_status,
             r.last_error, now, now if r.status in _DONE else None, r.delivery_id, worker_id)
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
            select(func.count(), func.min(deliveries.c.created_at)).where(
                deliveries.c.status.in_(_QUEUED)
            )
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
