"""Delivery figures for the dashboard: attempts per minute by outcome, and their latency.

Aggregated in the database (one grouped query over the window) rather than in Python, so the
dashboard costs the same whether the last hour saw ten attempts or a benchmark's million.
Minute buckets need each database's own date function, which SQLAlchemy picks when it
compiles the query (``_minute_of``); everything else is shared.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import String, and_, case, func, literal, literal_column, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from tabhooks.store.tables import attempts, deliveries

_MINUTE_FORMAT_PY = "%Y-%m-%d %H:%M"
_MINUTE_FORMAT_PG = "'YYYY-MM-DD HH24:MI'"


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


class _minute_of(FunctionElement[str]):
    """The minute a timestamp falls in, as ``YYYY-MM-DD HH:MM`` text: each database's own
    date function, chosen by SQLAlchemy when it compiles the query (below). The constants are
    written literally, so a ``GROUP BY`` repeats the select's expression exactly (PostgreSQL
    compares them as text, bound parameters included)."""

    type = String()
    inherit_cache = True
    name = "minute_of"


@compiles(_minute_of, "postgresql")
def _minute_of_postgresql(element: _minute_of, compiler: SQLCompiler, **kw: Any) -> str:
    (moment,) = element.clauses
    minute = func.date_trunc(literal_column("'minute'"), moment)
    return str(compiler.process(func.to_char(minute, literal_column(_MINUTE_FORMAT_PG)), **kw))


@compiles(_minute_of, "sqlite")
def _minute_of_sqlite(element: _minute_of, compiler: SQLCompiler, **kw: Any) -> str:
    (moment,) = element.clauses
    return str(
        compiler.process(func.strftime(literal_column(f"'{_MINUTE_FORMAT_PY}'"), moment), **kw)
    )


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
    bucket = _minute_of(attempts.c.started_at).label("minute")
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
