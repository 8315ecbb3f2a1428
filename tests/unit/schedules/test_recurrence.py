"""When schedules run (pure logic): Tableau's rules for each frequency, the next run after a
moment, a missed run's next slot, windows past midnight and daylight saving time."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from tabhooks.errors import BadRequest
from tabhooks.schedules.recurrence import parse

Z = ZoneInfo("UTC")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_hourly_runs_every_step_inside_its_window() -> None:
    every_two = parse("Hourly", "02:30:00", "23:00:00", [("hours", "2")])
    assert every_two.next_after(at("2026-12-07 02:29:59"), Z) == at("2026-12-07 02:30:00")
    assert every_two.next_after(at("2026-12-07 02:30:00"), Z) == at("2026-12-07 04:30:00")
    # 22:30 is the last run before 23:00; the next is tomorrow's first.
    assert every_two.next_after(at("2026-12-07 22:30:00"), Z) == at("2026-12-08 02:30:00")
    quarter = parse("Hourly", "08:00:00", "09:00:00", [("minutes", "15")])
    assert quarter.next_after(at("2026-12-07 08:50:00"), Z) == at("2026-12-07 09:00:00")
    assert quarter.next_after(at("2026-12-07 09:00:00"), Z) == at("2026-12-08 08:00:00")


def test_hourly_window_past_midnight_and_named_days() -> None:
    night = parse("Hourly", "22:00:00", "02:00:00", [("hours", "2")])
    assert night.next_after(at("2026-12-07 23:00:00"), Z) == at("2026-12-08 00:00:00")
    assert night.next_after(at("2026-12-08 02:00:00"), Z) == at("2026-12-08 22:00:00")
    # 2026-12-07 is a Monday: a Monday-only hourly schedule skips to next Monday.
    mondays = parse("Hourly", "10:00:00", "12:00:00", [("hours", "1"), ("weekDay", "Monday")])
    assert mondays.next_after(at("2026-12-07 12:00:00"), Z) == at("2026-12-14 10:00:00")


def test_daily_weekly_monthly() -> None:
    daily = parse("Daily", "05:00:00", None, [])
    assert daily.next_after(at("2026-12-07 05:00:00"), Z) == at("2026-12-08 05:00:00")
    weekly = parse("Weekly", "19:15:00", None, [("weekDay", "Wednesday"), ("weekDay", "Friday")])
    assert weekly.next_after(at("2026-12-07 00:00:00"), Z) == at("2026-12-09 19:15:00")
    assert weekly.next_after(at("2026-12-09 19:15:00"), Z) == at("2026-12-11 19:15:00")
    last = parse("Monthly", "23:30:00", None, [("monthDay", "LastDay")])
    assert last.next_after(at("2027-02-01 00:00:00"), Z) == at("2027-02-28 23:30:00")
    # The 31st in a 30-day month runs on its last day.
    thirty_first = parse("Monthly", "01:00:00", None, [("monthDay", "31")])
    assert thirty_first.next_after(at("2026-11-02 00:00:00"), Z) == at("2026-11-30 01:00:00")


def test_a_schedule_missed_for_days_has_one_next_slot_after_now() -> None:
    """What the scheduler does after downtime: the next run is the first slot after now, so
    the missed ones are not replayed."""
    hourly = parse("Hourly", "00:00:00", "23:00:00", [("minutes", "30")])
    assert hourly.next_after(at("2026-12-10 13:14:00"), Z) == at("2026-12-10 13:30:00")


def test_times_of_day_are_read_in_the_configured_zone_across_dst() -> None:
    paris = ZoneInfo("Europe/Paris")
    daily = parse("Daily", "02:30:00", None, [])
    # Winter: UTC+1; summer: UTC+2. The local time stays 02:30.
    assert daily.next_after(at("2026-01-10 00:00:00"), paris) == at("2026-01-10 01:30:00")
    assert daily.next_after(at("2026-07-10 00:00:00"), paris) == at("2026-07-10 00:30:00")


@pytest.mark.parametrize(
    ("frequency", "start", "end", "intervals"),
    [
        ("Hourly", "02:00:00", "23:00:00", [("hours", "3")]),
        ("Hourly", "02:30:00", "23:00:00", [("minutes", "15")]),
        ("Hourly", "02:00:00", None, [("hours", "2")]),
        ("Hourly", "02:00:00", "23:00:00", []),
        ("Hourly", "02:00:00", "23:00:00", [("hours", "2"), ("minutes", "30")]),
        ("Daily", "02:00:00", None, [("monthDay", "3")]),
        ("Weekly", "02:00:00", None, []),
        ("Weekly", "02:00:00", None, [("weekDay", "Funday")]),
        ("Monthly", "02:00:00", None, [("monthDay", "32")]),
        ("Monthly", "02:00:00", None, [("weekDay", "Monday")]),
        ("Daily", "25:00:00", None, []),
        ("Daily", None, None, []),
        ("Yearly", "02:00:00", None, []),
        ("Daily", "02:00:00", None, [("seconds", "5")]),
        # Digits str.isdigit() takes and int() does not (was a ValueError, a 500).
        ("Hourly", "02:00:00", "23:00:00", [("hours", "²")]),
        ("Monthly", "02:00:00", None, [("monthDay", "\u0661")]),  # an Arabic-Indic 1
    ],
)
def test_what_tableau_refuses(
    frequency: str, start: str | None, end: str | None, intervals: list[tuple[str, str]]
) -> None:
    with pytest.raises(BadRequest):
        parse(frequency, start, end, intervals)
