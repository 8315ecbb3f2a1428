"""Delivery figures for the dashboard: attempts per minute by outcome, and their latency.

Aggregated in the database (one grouped query over the window) rather than in Python, so the
dashboard costs the same whether the last hour saw ten attempts or a benchmark's million.
Minute buckets need each dialect's own date function; everything else is shared.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tabhooks.store.tables import attempts, deliveries

_MINUTE_FORMAT_PY = "%Y-%m-%d %H:%M"


class Outcome(StrEnum):
    """How an attempt ended, as the chart colours it."""

    #: A 2xx arrived.
    SUCCEEDED = "succeeded"
    #: The receiver answered with another status.
    HTTP_ERROR = "http_error"
    #: No status: timeout, refused, reset, DNS, TLS, blocked.
    NETWORK_ERROR = "network_error"


@dataclass(frozen=True, slots=True)
class Minute:
    """One minute of attempts: counts by outcome, and latency over all of them."""

    start: datetime
    succeeded: int = 0
    http_error: int = 0
    network_error: int = 0
    mean_ms: float | None = None
    max_ms: float | None = None

    @property
    def total(self) -> int:
        return self.succeeded + self.http_error + self.network_error


def _minute_bucket(dialect: str) -> Any:
    if dialect == "postgresql":
        return func.to_char(func.date_trunc("minute", attempts.c.started_at), "YYYY-MM-DD HH24:MI")
    return func.strftime(_MINUTE_FORMAT_PY, attempts.c.started_at)


def _outcome() -> Any:
    status = attempts.c.status_code
    return case(
        (and_(status >= 200, status < 300), literal(Outcome.SUCCEEDED.value)),
        (status.is_not(None), literal(Outcome.HTTP_ERROR.value)),
        else_=literal(Outcome.NETWORK_ERROR.value),
    )


async def attempts_per_minute(
    conn: AsyncConnection,
    site_id: str,
    *,
    now: datetime,
    minutes: int = 60,
    webhook_id: str | None = None,
) -> list[Minute]:
    """Every minute of the window ending at ``now``, oldest first, empty minutes included."""
    end = now.astimezone(UTC).replace(second=0, microsecond=0)
    start = end - timedelta(minutes=minutes - 1)
    bucket = _minute_bucket(conn.dialect.name).label("minute")
    outcome = _outcome().label("outcome")
    query = (
        select(
            bucket,
            outcome,
            func.count().label("n"),
            func.sum(attempts.c.duration_ms).label("total_ms"),
            func.max(attempts.c.duration_ms).label("max_ms"),
        )
        .select_from(attempts.join(deliveries, deliveries.c.id == attempts.c.delivery_id))
        .where(deliveries.c.site_id == site_id, attempts.c.started_at >= start)
        .group_by(bucket, outcome)
    )
    if webhook_id is not None:
        query = query.where(deliveries.c.webhook_id == webhook_id)
    folded: dict[str, dict[str, Any]] = {}
    for row in await conn.execute(query):
        slot = folded.setdefault(row.minute, {"n": 0, "total_ms": 0.0, "max_ms": 0.0})
        slot[row.outcome] = int(row.n)
        slot["n"] += int(row.n)
        slot["total_ms"] += float(row.total_ms or 0.0)
        slot["max_ms"] = max(slot["max_ms"], float(row.max_ms or 0.0))
    result = []
    for i in range(minutes):
        moment = start + timedelta(minutes=i)
        counts = folded.get(moment.strftime(_MINUTE_FORMAT_PY))
        if counts is None:
            result.append(Minute(moment))
            continue
        result.append(
            Minute(
                moment,
                succeeded=counts.get(Outcome.SUCCEEDED.value, 0),
                http_error=counts.get(Outcome.HTTP_ERROR.value, 0),
                network_error=counts.get(Outcome.NETWORK_ERROR.value, 0),
                mean_ms=counts["total_ms"] / counts["n"],
                max_ms=counts["max_ms"],
            )
        )
    return result
