"""When a schedule runs: Tableau's frequencies, checked as Tableau checks them, and the next run.

A schedule is a frequency (Hourly, Daily, Weekly, Monthly), a start time of day, for Hourly an
end time, and a list of ``(occurrence, value)`` intervals exactly as the wire carries them
(``<interval hours="2"/>`` is ``("hours", "2")``). Times of day are wall-clock times in one zone
(``TABHOOKS_SCHEDULE_TIMEZONE``, UTC unless set); the next run is handed back in UTC.

Pure logic with no clock of its own, and no store access (it only reads a stored row's fields):
callers pass "after" (the scheduler passes now), so a run that was missed while nothing was
running is one run, never one per missed slot.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tabhooks.errors import BadRequest
from tabhooks.store.schedules import Interval, Schedule

HOURLY, DAILY, WEEKLY, MONTHLY = "Hourly", "Daily", "Weekly", "Monthly"
FREQUENCIES = (HOURLY, DAILY, WEEKLY, MONTHLY)
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
LAST_DAY = "LastDay"
#: Tableau's hourly steps: every 15 or 30 minutes, or every 1, 2, 4, 6, 8, 12 (or 24) hours.
MINUTE_STEPS = (15, 30)
HOUR_STEPS = (1, 2, 4, 6, 8, 12, 24)
#: How far ahead a next run is looked for (a Monthly schedule on the 31st skips short months).
_HORIZON_DAYS = 400

__all__ = ["Interval", "Recurrence", "of", "parse", "zone_of"]


@dataclass(frozen=True, slots=True)
class Recurrence:
    """A validated frequency: build it with :func:`parse`."""

    frequency: str
    start: time
    end: time | None
    intervals: tuple[Interval, ...]

    @property
    def step(self) -> timedelta | None:
        """Hourly: the time between two runs of one day's window."""
        for occurrence, value in self.intervals:
            if occurrence == "minutes":
                return timedelta(minutes=int(value))
            if occurrence == "hours":
                return timedelta(hours=int(value))
        return None

    @property
    def weekdays(self) -> frozenset[int]:
        """Days of the week it runs on (Monday is 0); every day when none is named."""
        named = {WEEKDAYS.index(v) for o, v in self.intervals if o == "weekDay"}
        return frozenset(named) if named else frozenset(range(7))

    def next_after(self, after: datetime, zone: ZoneInfo) -> datetime:
        """The first run strictly after ``after`` (aware), in UTC."""
        local_day = after.astimezone(zone).date() - timedelta(days=1)
        for offset in range(_HORIZON_DAYS):
            day = local_day + timedelta(days=offset)
            for moment in self._runs_on(day, zone):
                if moment > after:
                    return moment.astimezone(UTC)
        raise ValueError(f"no run within {_HORIZON_DAYS} days")  # parse() rules this out

    def _runs_on(self, day: date, zone: ZoneInfo) -> Iterator[datetime]:
        """Runs whose day (for Hourly, whose window's first day) is ``day``, in order."""
        if not self._runs_that_day(day):
            return
        first = datetime.combine(day, self.start, tzinfo=zone)
        if self.frequency != HOURLY:
            yield first
            return
        step = self.step
        assert step is not None and self.end is not None
        window = _window(self.start, self.end)
        offset = timedelta(0)
        while offset <= window:
            # Wall-clock arithmetic, then the zone's offset for that wall time (DST-safe).
            wall = datetime.combine(day, self.start) + offset
            yield wall.replace(tzinfo=zone)
            offset += step

    def _runs_that_day(self, day: date) -> bool:
        if self.frequency == MONTHLY:
            last = calendar.monthrange(day.year, day.month)[1]
            for _, value in self.intervals:
                wanted = last if value == LAST_DAY else min(int(value), last)
                if day.day == wanted:
                    return True
            return False
        return day.weekday() in self.weekdays


def _window(start: time, end: time) -> timedelta:
    """How long an hourly window lasts; an end at or before the start runs past midnight."""
    span = datetime.combine(date.min, end) - datetime.combine(date.min, start)
    if span <= timedelta(0):
        span += timedelta(days=1)
        if span == timedelta(days=1):
            span -= timedelta(seconds=1)  # start == end: one day, not the next day's start too
    return span


def parse_time(value: str | None, what: str) -> time:
    """``HH:MM:SS`` (or ``HH:MM``), as Tableau writes times of day."""
    if not value:
        raise BadRequest(f"frequencyDetails '{what}' is required (HH:MM:SS).")
    for form in ("%H:%M:%S", "%H:%M"):
        try:
            return datetime.strptime(value, form).time()
        except ValueError:
            continue
    raise BadRequest(f"frequencyDetails '{what}' must be a time of day HH:MM:SS, not '{value}'.")


def parse(
    frequency: str | None, start: str | None, end: str | None, intervals: list[Interval]
) -> Recurrence:
    """Check a frequency as Tableau does and build its :class:`Recurrence`.

    Args:
        frequency: ``Hourly``, ``Daily``, ``Weekly`` or ``Monthly``.
        start: the time of day the runs start.
        end: Hourly only: the time of day the runs stop (ignored for other frequencies).
        intervals: ``(occurrence, value)`` pairs: ``minutes`` 15 or 30, ``hours`` 1, 2, 4, 6,
            8, 12 (or 24), ``weekDay`` Monday…Sunday, ``monthDay`` 1…31 or ``LastDay``.

    Raises:
        BadRequest: the frequency breaks one of the rules.
    """
    if frequency not in FREQUENCIES:
        raise BadRequest(
            f"frequency must be one of {', '.join(FREQUENCIES)}, not '{frequency or ''}'."
        )
    start_time = parse_time(start, "start")
    for occurrence, value in intervals:
        _check_interval(occurrence, value)
    kinds = [o for o, _ in intervals]
    steps = [(o, v) for o, v in intervals if o in ("minutes", "hours")]
    if frequency == HOURLY:
        end_time = parse_time(end, "end")
        if len(steps) != 1:
            raise BadRequest(
                "An Hourly schedule needs exactly one interval of minutes (15, 30) or hours "
                "(1, 2, 4, 6, 8, 12)."
            )
        if steps[0][0] == "minutes" and (start_time.minute or end_time.minute):
            raise BadRequest(
                "A schedule that runs more often than hourly must start and end on the hour."
            )
        if set(kinds) - {"minutes", "hours", "weekDay"}:
            raise BadRequest("An Hourly schedule takes minutes, hours and weekDay intervals only.")
        return Recurrence(frequency, start_time, end_time, tuple(intervals))
    if frequency == DAILY:
        if set(kinds) - {"hours", "weekDay"} or any(v != "24" for _, v in steps):
            raise BadRequest("A Daily schedule takes weekDay intervals (and hours=24) only.")
    elif frequency == WEEKLY:
        if not kinds or set(kinds) != {"weekDay"}:
            raise BadRequest("A Weekly schedule needs one or more weekDay intervals.")
    elif not kinds or set(kinds) != {"monthDay"}:
        raise BadRequest("A Monthly schedule needs one or more monthDay intervals (1-31, LastDay).")
    return Recurrence(frequency, start_time, None, tuple(intervals))


def _check_interval(occurrence: str, value: str) -> None:
    # ASCII digits only: str.isdigit() also takes "²", which int() refuses.
    digits = value.isascii() and value.isdigit() and len(value) <= 4
    if occurrence == "minutes":
        ok = digits and int(value) in MINUTE_STEPS
    elif occurrence == "hours":
        ok = digits and int(value) in HOUR_STEPS
    elif occurrence == "weekDay":
        ok = value in WEEKDAYS
    elif occurrence == "monthDay":
        ok = value == LAST_DAY or (digits and 1 <= int(value) <= 31)
    else:
        raise BadRequest(
            f"Unknown interval '{occurrence}': use minutes, hours, weekDay or monthDay."
        )
    if not ok:
        raise BadRequest(f"Interval {occurrence}='{value}' is not one Tableau accepts.")


def of(schedule: Schedule) -> Recurrence:
    """A stored schedule's recurrence (checked when it was stored)."""
    return parse(
        schedule.frequency, schedule.start_time, schedule.end_time, list(schedule.intervals)
    )


def zone_of(name: str) -> ZoneInfo:
    """The zone schedules' times of day are read in (``TABHOOKS_SCHEDULE_TIMEZONE``)."""
    return ZoneInfo(name)
