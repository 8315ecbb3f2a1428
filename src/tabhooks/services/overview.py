"""Read-only summaries for the dashboard: webhook health, and what a content did lately.

They read delivery history, events and jobs, which the REST API shows only to site and server
administrators (the delivery log, ``/tabhooks/v1/.../events``, Query Jobs), so they ask for
the same role.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from tabhooks.models import Content
from tabhooks.services.principal import Principal
from tabhooks.store import Store
from tabhooks.store import health as health_store
from tabhooks.store.health import FiredEvent, WebhookHealth
from tabhooks.store.jobs import Job
from tabhooks.store.tables import utcnow_precise

#: Events and jobs shown on a content's page.
ACTIVITY_SHOWN = 20
#: Slack before a content's creation time when looking for its events (clocks round to the
#: second in places).
_CREATION_SLACK = timedelta(minutes=1)


async def webhook_health(store: Store, principal: Principal) -> dict[str, WebhookHealth]:
    """Each webhook's latest delivery, failures in the last hour and retries waiting, by id."""
    principal.require_site_admin()
    async with store.read() as conn:
        return await health_store.webhook_health(conn, principal.site.id, now=utcnow_precise())


@dataclass(frozen=True, slots=True)
class Activity:
    """A content's latest jobs and the events it fired, each with its deliveries."""

    jobs: list[Job]
    events: list[FiredEvent]


async def content_activity(store: Store, principal: Principal, content: Content) -> Activity:
    """What ``content`` (already read through :mod:`tabhooks.services.contents`) did lately."""
    principal.require_site_admin()
    site_id = principal.site.id
    async with store.read() as conn:
        jobs = await health_store.jobs_of(conn, site_id, content.id, limit=ACTIVITY_SHOWN)
        fired = await health_store.events_of(
            conn,
            site_id,
            content.id,
            since=content.created_at - _CREATION_SLACK,
            limit=ACTIVITY_SHOWN,
        )
    return Activity(jobs, fired)
