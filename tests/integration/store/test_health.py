"""The dashboard's summaries on each backend: a webhook's last delivery, failed attempts of
the last hour, retries waiting; a content's events with their deliveries and its jobs; the
delivery log filtered by event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from tabhooks.ids import new_id, new_uuid7
from tabhooks.store import deliveries as deliveries_store
from tabhooks.store import health
from tabhooks.store import webhooks as webhooks_store
from tabhooks.store.tables import attempts, deliveries, events, jobs
from tests.integration.conftest import Seeded

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


async def _webhook(conn: Any, seeded: Seeded, name: str) -> str:
    made = await webhooks_store.create(
        conn,
        site_id=seeded.site_id,
        name=name,
        event="WorkbookCreated",
        url=f"https://hooks.example.com/{name}",
        is_enabled=True,
        status_change_reason="",
        owner_id=seeded.admin_id,
    )
    return made.id


async def _event(conn: Any, seeded: Seeded, name: str, luid: str, at: datetime) -> str:
    event_id = new_uuid7()
    await conn.execute(
        insert(events).values(
            id=event_id,
            site_id=seeded.site_id,
            event=name,
            resource="WORKBOOK",
            resource_name="Book",
            resource_luid=luid,
            payload="{}",
            created_at=at,
        )
    )
    return event_id


async def _delivery(
    conn: Any,
    seeded: Seeded,
    event_id: str,
    webhook_id: str,
    at: datetime,
    status: str,
    codes: list[int | None],
) -> str:
    """A delivery with one attempt per code (``None``: no answer), a minute apart."""
    delivery_id = new_id("msg_")
    await conn.execute(
        insert(deliveries).values(
            id=delivery_id,
            event_id=event_id,
            webhook_id=webhook_id,
            site_id=seeded.site_id,
            status=status,
            attempts=len(codes),
            next_attempt_at=at + timedelta(hours=1) if status == "pending" else None,
            last_status=codes[-1] if codes else None,
            created_at=at,
            updated_at=at + timedelta(minutes=len(codes)),
        )
    )
    for number, code in enumerate(codes, start=1):
        await conn.execute(
            insert(attempts).values(
                id=new_id("att_"),
                delivery_id=delivery_id,
                number=number,
                started_at=at + timedelta(minutes=number - 1),
                duration_ms=5.0,
                status_code=code,
                error=None if code else "timeout",
            )
        )
    return delivery_id


async def test_webhook_health_counts_last_hour_failures_and_waiting_retries(
    seeded: Seeded,
) -> None:
    async with seeded.store.write() as conn:
        quiet = await _webhook(conn, seeded, "quiet")
        steady = await _webhook(conn, seeded, "steady")
        shaky = await _webhook(conn, seeded, "shaky")
        old = NOW - timedelta(hours=3)
        event = await _event(conn, seeded, "WorkbookCreated", "wb-1", old)
        # steady: an old failure (outside the hour), then a recent success.
        await _delivery(conn, seeded, event, steady, old, "failed", [500, 500])
        last_ok = await _delivery(
            conn, seeded, event, steady, NOW - timedelta(minutes=30), "succeeded", [200]
        )
        # shaky: a recent failure, then one failing and waiting for its retry.
        await _delivery(
            conn, seeded, event, shaky, NOW - timedelta(minutes=20), "failed", [503, None, 404]
        )
        waiting = await _delivery(
            conn, seeded, event, shaky, NOW - timedelta(minutes=5), "pending", [302]
        )
    async with seeded.store.read() as conn:
        found = await health.webhook_health(conn, seeded.site_id, now=NOW)
    assert quiet not in found
    assert found[steady].last_id == last_ok
    assert (found[steady].last_status, found[steady].last_code) == ("succeeded", 200)
    assert found[steady].failures_last_hour == 0 and found[steady].waiting_retry == 0
    assert not found[steady].failing
    assert found[shaky].last_id == waiting and found[shaky].last_code == 302
    assert found[shaky].failures_last_hour == 4  # 503, no answer, 404, 302
    assert found[shaky].waiting_retry == 1 and found[shaky].failing
    async with seeded.store.read() as conn:
        elsewhere = await health.webhook_health(conn, "no-such-site", now=NOW)
    assert elsewhere == {}


async def test_events_of_a_content_carry_their_deliveries_and_jobs_are_its_own(
    seeded: Seeded,
) -> None:
    async with seeded.store.write() as conn:
        hook = await _webhook(conn, seeded, "listener")
        created = await _event(conn, seeded, "WorkbookCreated", "wb-1", NOW - timedelta(hours=2))
        updated = await _event(conn, seeded, "WorkbookUpdated", "wb-1", NOW - timedelta(hours=1))
        await _event(conn, seeded, "WorkbookCreated", "wb-2", NOW)
        await _event(conn, seeded, "WorkbookCreated", "wb-1", NOW - timedelta(days=9))
        sent = await _delivery(
            conn, seeded, updated, hook, NOW - timedelta(hours=1), "succeeded", [200]
        )
        for content, job_type in (("wb-x", "RefreshExtract"), ("wb-y", "RunFlow")):
            await conn.execute(
                insert(jobs).values(
                    id=new_uuid7(),
                    site_id=seeded.site_id,
                    type=job_type,
                    content_id=None,
                    content_kind="workbook",
                    content_name=content,
                    status="Success",
                    progress=100,
                    incremental=False,
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
    async with seeded.store.read() as conn:
        fired = await health.events_of(
            conn, seeded.site_id, "wb-1", since=NOW - timedelta(days=1), limit=10
        )
        listed = await deliveries_store.list_for_site(conn, seeded.site_id, event="WorkbookUpdated")
        none_listed = await deliveries_store.list_for_site(
            conn, seeded.site_id, event="WorkbookDeleted"
        )
        no_jobs = await health.jobs_of(conn, seeded.site_id, "wb-1", limit=10)
    assert [(e.id, e.event) for e in fired] == [
        (updated, "WorkbookUpdated"),
        (created, "WorkbookCreated"),
    ]  # newest first; the one before ``since`` and the other content's are not
    assert fired[0].deliveries == [(sent, "succeeded", "listener")]
    assert fired[1].deliveries == []
    assert [d["id"] for d in listed] == [sent]
    assert none_listed == []
    assert no_jobs == []  # jobs of other content (or of none) are not this one's
