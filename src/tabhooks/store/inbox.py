"""Named statements of the inspector: bins, captured requests, retention and wake-ups.

A bin keeps its newest ``max_requests`` requests and none older than ``max_age_s``: the count
is enforced on every capture (two index lookups, so a busy bin never grows past its limit),
the age on every capture of that bin and by a periodic sweep for bins nobody posts to.

On PostgreSQL a capture or a clear also sends ``NOTIFY tabhooks_inbox, '<kind>:<bin id>'``
inside its transaction, so live views served by other API processes wake the moment it
commits (PostgreSQL delivers notifications only on commit).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tabhooks.errors import ResourceNotFound
from tabhooks.store.backend import backend_of
from tabhooks.store.tables import inbox_bins, inbox_requests, sites, users, utcnow_precise

#: The PostgreSQL channel live views LISTEN on; payloads are ``"<kind>:<bin id>"``.
NOTIFY_CHANNEL = "tabhooks_inbox"


async def notify(conn: AsyncConnection, kind: str, bin_id: str) -> None:
    """Tell other processes' live views about a change, once this transaction commits."""
    await backend_of(conn).notify(conn, NOTIFY_CHANNEL, f"{kind}:{bin_id}")


# ----------------------------------------------------------------------------- bins


async def lock_for_quota(conn: AsyncConnection, site_id: str, user_id: str | None) -> None:
    """Serialise the quota checks of one site's and one user's bins until this transaction ends.

    SQLite writers are serialised already; on PostgreSQL two processes creating bins at once
    would otherwise both see room for one more. ``FOR NO KEY UPDATE`` leaves the rows free for
    the key-share locks of every other insert that refers to them.
    """
    backend = backend_of(conn)
    await conn.execute(backend.lock_referenced(select(sites.c.id).where(sites.c.id == site_id)))
    if user_id is not None:
        await conn.execute(backend.lock_referenced(select(users.c.id).where(users.c.id == user_id)))


async def bins_held(
    conn: AsyncConnection, *, site_id: str, user_id: str | None, excluding: str | None = None
) -> tuple[tuple[int, int], tuple[int, int]]:
    """``((bins, kept requests) of the site, (bins, kept requests) of the user))``.

    Kept requests are the sum of the bins' ``max_requests``: what they may hold, not what they
    hold now, so a quota checked against it holds on every capture without counting there.

    Args:
        user_id: The creator whose bins count (on every site); ``None`` counts none.
        excluding: A bin left out of both sums (the one being changed).
    """
    totals = select(func.count(), func.coalesce(func.sum(inbox_bins.c.max_requests), 0))
    if excluding is not None:
        totals = totals.where(inbox_bins.c.id != excluding)
    site = (await conn.execute(totals.where(inbox_bins.c.site_id == site_id))).one()
    user = (0, 0)
    if user_id is not None:
        user = tuple((await conn.execute(totals.where(inbox_bins.c.created_by == user_id))).one())
    return (int(site[0]), int(site[1])), (int(user[0]), int(user[1]))


async def create_bin(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(insert(inbox_bins).values(**values))


async def get_bin(conn: AsyncConnection, bin_id: str) -> dict[str, Any] | None:
    row = (await conn.execute(select(inbox_bins).where(inbox_bins.c.id == bin_id))).first()
    return dict(row._mapping) if row else None


async def list_bins(conn: AsyncConnection, site_id: str) -> list[dict[str, Any]]:
    """The site's bins, newest first, each with its request count and latest arrival."""
    counts = (
        select(
            inbox_requests.c.bin_id,
            func.count().label("request_count"),
            func.max(inbox_requests.c.received_at).label("last_received_at"),
        )
        .group_by(inbox_requests.c.bin_id)
        .subquery()
    )
    rows = await conn.execute(
        select(inbox_bins, counts.c.request_count, counts.c.last_received_at)
        .outerjoin(counts, counts.c.bin_id == inbox_bins.c.id)
        .where(inbox_bins.c.site_id == site_id)
        .order_by(inbox_bins.c.created_at.desc(), inbox_bins.c.id)
    )
    return [dict(r._mapping) for r in rows]


async def change_bin(conn: AsyncConnection, bin_id: str, changes: dict[str, Any]) -> None:
    await conn.execute(
        update(inbox_bins)
        .where(inbox_bins.c.id == bin_id)
        .values(**changes, updated_at=utcnow_precise())
    )


async def delete_bin(conn: AsyncConnection, bin_id: str) -> bool:
    await conn.execute(delete(inbox_requests).where(inbox_requests.c.bin_id == bin_id))
    result = await conn.execute(delete(inbox_bins).where(inbox_bins.c.id == bin_id))
    return result.rowcount > 0


async def take_forced_failure(conn: AsyncConnection, bin_id: str) -> int | None:
    """Use up one of the bin's "fail the next N" failures, atomically across processes.

    Returns:
        How many forced failures remain after this one, or ``None`` when none was left.
    """
    result = await conn.execute(
        update(inbox_bins)
        .where(inbox_bins.c.id == bin_id, inbox_bins.c.fail_remaining > 0)
        .values(fail_remaining=inbox_bins.c.fail_remaining - 1)
        .returning(inbox_bins.c.fail_remaining)
    )
    row = result.first()
    return int(row[0]) if row else None


# ----------------------------------------------------------------------------- requests


async def add_request(
    conn: AsyncConnection, row: dict[str, Any], *, keep: int, max_age_s: int
) -> None:
    """Store one captured request, then trim its bin to the retention limits.

    Raises:
        ResourceNotFound: The bin was deleted while the request was arriving.
    """
    try:
        await conn.execute(insert(inbox_requests).values(**row))
    except IntegrityError as exc:
        raise ResourceNotFound(f"No inbox bin '{row['bin_id']}' exists.") from exc
    bin_id = row["bin_id"]
    await trim(conn, bin_id, keep)
    await _drop_older(conn, bin_id, row["received_at"] - timedelta(seconds=max_age_s))
    await notify(conn, "request", bin_id)


async def trim(conn: AsyncConnection, bin_id: str, keep: int) -> int:
    """Drop all but the bin's newest ``keep`` requests (two index lookups when within)."""
    # The id of the newest request beyond the limit: it and everything older goes.
    cutoff_id = (
        await conn.execute(
            select(inbox_requests.c.id)
            .where(inbox_requests.c.bin_id == bin_id)
            .order_by(inbox_requests.c.id.desc())
            .limit(1)
            .offset(keep)
        )
    ).scalar()
    if cutoff_id is None:
        return 0
    result = await conn.execute(
        delete(inbox_requests).where(
            inbox_requests.c.bin_id == bin_id, inbox_requests.c.id <= cutoff_id
        )
    )
    return result.rowcount


async def _drop_older(conn: AsyncConnection, bin_id: str, cutoff: datetime) -> int:
    result = await conn.execute(
        delete(inbox_requests).where(
            inbox_requests.c.bin_id == bin_id, inbox_requests.c.received_at < cutoff
        )
    )
    return result.rowcount


async def purge_expired(conn: AsyncConnection, now: datetime) -> int:
    """Drop requests past their bin's age limit, in every bin (the periodic sweep)."""
    bins = await conn.execute(select(inbox_bins.c.id, inbox_bins.c.max_age_s))
    dropped = 0
    for bin_id, max_age_s in bins.all():
        dropped += await _drop_older(conn, bin_id, now - timedelta(seconds=max_age_s))
    return dropped


def _kept_bytes() -> Any:
    return func.length(inbox_requests.c.body).label("kept_bytes")


async def list_requests(
    conn: AsyncConnection,
    bin_id: str,
    *,
    not_before: datetime,
    before_id: str | None = None,
    limit: int = 50,
    max_bytes: int | None = None,
) -> tuple[list[dict[str, Any]], bool]:
    """Newest first, and whether older ones remain; ``before_id`` pages towards older ones.

    Args:
        max_bytes: Stop once the bodies read reach this many bytes (at least one request is
            returned), so a page of large bodies costs a bounded amount of memory. The ids
            and sizes are read first, and only the chosen rows with their bodies.
    """
    query = select(inbox_requests.c.id, _kept_bytes()).where(
        inbox_requests.c.bin_id == bin_id, inbox_requests.c.received_at >= not_before
    )
    if before_id:
        query = query.where(inbox_requests.c.id < before_id)
    found = (await conn.execute(query.order_by(inbox_requests.c.id.desc()).limit(limit + 1))).all()
    chosen = ids_within(found[:limit], max_bytes)
    return await requests_by_ids(conn, bin_id, chosen), len(found) > len(chosen)


def ids_within(found: Sequence[Any], max_bytes: int | None) -> list[str]:
    """The ids of ``(id, kept bytes)`` rows, in order, until their bodies reach ``max_bytes``."""
    chosen: list[str] = []
    total = 0
    for request_id, kept_bytes in found:
        if chosen and max_bytes is not None and total + (kept_bytes or 0) > max_bytes:
            break
        chosen.append(request_id)
        total += kept_bytes or 0
    return chosen


async def requests_by_ids(
    conn: AsyncConnection, bin_id: str, ids: list[str]
) -> list[dict[str, Any]]:
    """The bin's requests with these ids, newest first."""
    if not ids:
        return []
    rows = await conn.execute(
        select(inbox_requests)
        .where(inbox_requests.c.bin_id == bin_id, inbox_requests.c.id.in_(ids))
        .order_by(inbox_requests.c.id.desc())
    )
    return [dict(r._mapping) for r in rows]


async def arrivals_since(
    conn: AsyncConnection, bin_id: str, since: datetime, limit: int = 500
) -> list[tuple[str, datetime, int]]:
    """``(id, arrival, kept body bytes)`` of the newest ``limit`` requests received at or
    after ``since``, newest first: what a live view chooses from before it reads any body.

    Newest rather than oldest, so a live view flooded with more than it may show at once
    skips some (a reload shows them all) instead of never catching up.
    """
    rows = await conn.execute(
        select(inbox_requests.c.id, inbox_requests.c.received_at, _kept_bytes())
        .where(inbox_requests.c.bin_id == bin_id, inbox_requests.c.received_at >= since)
        .order_by(inbox_requests.c.received_at.desc(), inbox_requests.c.id.desc())
        .limit(limit)
    )
    return [(r[0], r[1], int(r[2] or 0)) for r in rows]


async def get_request(conn: AsyncConnection, bin_id: str, request_id: str) -> dict[str, Any] | None:
    row = (
        await conn.execute(
            select(inbox_requests).where(
                inbox_requests.c.bin_id == bin_id, inbox_requests.c.id == request_id
            )
        )
    ).first()
    return dict(row._mapping) if row else None


async def occurrences(
    conn: AsyncConnection, bin_id: str, msg_ids: Iterable[str]
) -> dict[str, list[str]]:
    """For each ``webhook-id``, the ids of the bin's requests carrying it, oldest first."""
    wanted = sorted(set(msg_ids))
    if not wanted:
        return {}
    rows = await conn.execute(
        select(inbox_requests.c.webhook_msg_id, inbox_requests.c.id)
        .where(inbox_requests.c.bin_id == bin_id, inbox_requests.c.webhook_msg_id.in_(wanted))
        .order_by(inbox_requests.c.id)
    )
    found: dict[str, list[str]] = {}
    for msg_id, request_id in rows:
        found.setdefault(msg_id, []).append(request_id)
    return found


async def clear(conn: AsyncConnection, bin_id: str) -> int:
    result = await conn.execute(delete(inbox_requests).where(inbox_requests.c.bin_id == bin_id))
    await notify(conn, "cleared", bin_id)
    return result.rowcount
