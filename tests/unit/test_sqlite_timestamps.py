"""Timestamps bound for SQLite are the text SQLAlchemy's ``DateTime`` stores, byte for byte.

``UTCDateTime`` writes SQLite's text itself (see its ``bind_processor``); rows written before
that change, and every comparison in SQL between stored and bound times, rely on the format
being unchanged.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import DateTime
from sqlalchemy.dialects import postgresql, sqlite

from tabhooks.store.tables import UTCDateTime

SQLITE = sqlite.dialect()
MOMENTS = [
    datetime(2026, 11, 29, 15, 4, 5, 123456, tzinfo=UTC),
    datetime(2026, 11, 29, 15, 4, 5, tzinfo=UTC),  # no fraction: still six digits
    datetime(2026, 11, 29, 7, 4, 5, 1, tzinfo=timezone(timedelta(hours=-8))),
    datetime(2026, 3, 29, 23, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 11, 29, 15, 4, 5, 42),  # naive: already UTC
]


def _sqlalchemy_text(moment: datetime) -> str:
    naive = moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
    process = DateTime().dialect_impl(SQLITE).bind_processor(SQLITE)
    assert process is not None
    return str(process(naive))


@pytest.mark.parametrize("moment", MOMENTS, ids=str)
def test_sqlite_text_is_what_sqlalchemy_datetime_stores(moment: datetime) -> None:
    process = UTCDateTime().dialect_impl(SQLITE).bind_processor(SQLITE)
    assert process is not None
    assert process(moment) == _sqlalchemy_text(moment)


def test_none_stays_null_and_other_types_are_refused() -> None:
    process = UTCDateTime().dialect_impl(SQLITE).bind_processor(SQLITE)
    assert process is not None
    assert process(None) is None
    with pytest.raises(TypeError, match="must be a datetime"):
        process("2026-11-29 15:04:05")


def test_postgresql_still_gets_naive_utc_datetimes() -> None:
    dialect = postgresql.dialect()
    process = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    moment = datetime(2026, 11, 29, 7, 4, 5, tzinfo=timezone(timedelta(hours=-8)))
    bound = process(moment) if process else moment
    assert bound == datetime(2026, 11, 29, 15, 4, 5)


def test_equal_instants_share_text_and_naive_values_are_not_confused_with_aware() -> None:
    """Conversions are cached by value; the cache must not change any result."""
    process = UTCDateTime().dialect_impl(SQLITE).bind_processor(SQLITE)
    assert process is not None
    utc = datetime(2026, 7, 1, 12, 0, 0, 5, tzinfo=UTC)
    same_instant = utc.astimezone(timezone(timedelta(hours=-3)))
    naive_local_fields = same_instant.replace(tzinfo=None)  # 09:00 naive means 09:00 UTC
    assert process(utc) == process(same_instant) == "2026-07-01 12:00:00.000005"
    assert process(naive_local_fields) == "2026-07-01 09:00:00.000005"
    assert process(utc) == "2026-07-01 12:00:00.000005"  # still right after the others
