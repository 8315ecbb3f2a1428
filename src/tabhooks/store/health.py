"""What the dashboard shows at a glance: each webhook's health, and each content's activity.

Every query here is bounded by an index whatever the history holds, because the dashboard is
opened on stores that benchmarks filled with millions of deliveries:

- a webhook's last delivery is one correlated lookup on ``(webhook_id, created_at)``;
- failed attempts of the last hour read the ``started_at`` index over that hour only;
- deliveries waiting for a retry read the queued-only partial index (the queue, not history);
- a content's jobs read ``content_id``; its events the site's events back to the content's
  creation, newest first (events about it cannot be older), and their deliveries the site's
  deliveries within :data:`EVENT_DELIVERY_WINDOW` of each event: deliveries are written in the
  event's own transaction (:mod:`tabhooks.store.outbox`, :mod:`tabhooks.store.relays`), so
  that window holds them all, and ``(site_id, created_at)`` finds it without an index on
  ``event_id``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tabhooks.store.jobs import Job
from tabhooks.store.tables import (
    QUEUED_STATUSES,
    attempts,
    deliveries,
    events,
    jobs,
    relay_routes,
    relay_targets,
    webhooks,
)

#: The window of "failures in the last hour".
FAILURE_WINDOW = timedelta(hours=1)
#: How far from its event a delivery's ``created_at`` can be (both are written in one
#: transaction; this is that transaction's longest plausible life, with room to spare).
EVENT_DELIVERY_WINDOW = timedelta(minutes=30)
#: Queued rows, the statuses written literally so the queued-only partial index applies.
_IS_QUEUED = deliveries.c.status.in_([literal(s, literal_execute=True) for s in QUEUED_STATUSES])


@dataclass(frozen=True, slots=True)
class WebhookHealth:
    """One webhook's recent story, for its row in the list."""

    #: The latest delivery's id, status and times (``None`` when it never had one).
    last_id: str | None = None
    last_status: str | None = None
    last_at: datetime | None = None
    last_code: int | None = None
    last_error: str | None = None
    #: Attempts in the last hour that did not get a 2xx (status, timeout, refused...).
    failures_last_hour: int = 0
    #: Deliveries that failed at least once and wait for their next attempt.
    waiting_retry: int = 0

    @property
    def failing(self) -> bool:
        """The receiver is in trouble now: its latest delivery failed or is being retried."""
        return self.last_status == "failed" or self.waiting_retry > 0


async def webhook_health(
    conn: AsyncConnection, site_id: str, *, now: datetime
) -> dict[str, WebhookHealth]:
    """Every webhook of the site that has any delivery, by id."""
    latest = (
        select(deliveries.c.id)
        .where(deliveries.c.webhook_id == webhooks.c.id)
        .order_by(deliveries.c.created_at.desc(), deliveries.c.id.desc())
        .limit(1)
        .correlate(webhooks)
        .scalar_subquery()
    )
    last_rows = await conn.execute(
        select(
            webhooks.c.id.label("webhook_id"),
            deliveries.c.id,
            deliveries.c.status,
            deliveries.c.created_at,
            deliveries.c.updated_at,
            deliveries.c.last_status,
            deliveries.c.last_error,
        )
        .select_from(webhooks.join(deliveries, deliveries.c.id == latest))
        .where(webhooks.c.site_id == site_id)
    )
    found: dict[str, dict[str, Any]] = {}
    for row in last_rows:
        found[row.webhook_id] = {
            "last_id": row.id,
            "last_status": row.status,
            "last_at": row.updated_at or row.created_at,
            "last_code": row.last_status,
            "last_error": row.last_error,
        }
    failed = await conn.execute(
        select(deliveries.c.webhook_id, func.count())
        .select_from(attempts.join(deliveries, deliveries.c.id == attempts.c.delivery_id))
        .where(
            attempts.c.started_at >= now - FAILURE_WINDOW,
            deliveries.c.site_id == site_id,
            deliveries.c.webhook_id.is_not(None),
            or_(
                attempts.c.status_code.is_(None),
                attempts.c.status_code < 200,
                attempts.c.status_code >= 300,
            ),
        )
        .group_by(deliveries.c.webhook_id)
    )
    for webhook_id, count in failed:
        found.setdefault(webhook_id, {})["failures_last_hour"] = int(count)
    waiting = await conn.execute(
        select(deliveries.c.webhook_id, func.count())
        .where(
            _IS_QUEUED,
            and_(
                deliveries.c.site_id == site_id,
                deliveries.c.webhook_id.is_not(None),
                deliveries.c.attempts > 0,
            ),
        )
        .group_by(deliveries.c.webhook_id)
    )
    for webhook_id, count in waiting:
        found.setdefault(webhook_id, {})["waiting_retry"] = int(count)
    return {webhook_id: WebhookHealth(**values) for webhook_id, values in found.items()}


@dataclass(frozen=True, slots=True)
class FiredEvent:
    """An event a content fired, with what became of its deliveries."""

    id: str
    event: str
    created_at: datetime
    #: ``(delivery id, status, webhook or relay route name)``, oldest first.
    deliveries: list[tuple[str, str, str]]


async def events_of(
    conn: AsyncConnection,
    site_id: str,
    resource_luid: str,
    *,
    since: datetime,
    limit: int,
) -> list[FiredEvent]:
    """The latest events about ``resource_luid`` on the site since ``since``, newest first."""
    rows = (
        await conn.execute(
            select(events.c.id, events.c.event, events.c.created_at)
            .where(
                events.c.site_id == site_id,
                events.c.created_at >= since,
                events.c.resource_luid == resource_luid,
            )
            .order_by(events.c.created_at.desc(), events.c.id.desc())
            .limit(limit)
        )
    ).all()
    return [
        FiredEvent(r.id, r.event, r.created_at, await _deliveries_of(conn, site_id, r))
        for r in rows
    ]


async def _deliveries_of(
    conn: AsyncConnection, site_id: str, event: Any
) -> list[tuple[str, str, str]]:
    """``(id, status, webhook or route name)`` of one event's deliveries, oldest first."""
    sent = await conn.execute(
        select(
            deliveries.c.id,
            deliveries.c.status,
            func.coalesce(webhooks.c.name, relay_routes.c.name).label("sent_to"),
        )
        .select_from(
            deliveries.outerjoin(webhooks, webhooks.c.id == deliveries.c.webhook_id)
            .outerjoin(relay_targets, relay_targets.c.id == deliveries.c.relay_target_id)
            .outerjoin(relay_routes, relay_routes.c.id == relay_targets.c.route_id)
        )
        .where(
            deliveries.c.site_id == site_id,
            deliveries.c.created_at >= event.created_at - EVENT_DELIVERY_WINDOW,
            deliveries.c.created_at <= event.created_at + EVENT_DELIVERY_WINDOW,
            deliveries.c.event_id == event.id,
        )
        .order_by(deliveries.c.id)
    )
    return [(row.id, row.status, row.sent_to or "") for row in sent]


async def jobs_of(conn: AsyncConnection, site_id: str, content_id: str, *, limit: int) -> list[Job]:
    """The content's latest jobs (refreshes, flow runs, publishes), newest first."""
    rows = await conn.execute(
        select(jobs)
        .where(jobs.c.site_id == site_id, jobs.c.content_id == content_id)
        .order_by(jobs.c.created_at.desc(), jobs.c.id.desc())
        .limit(limit)
    )
    return [Job.from_row(r) for r in rows]
