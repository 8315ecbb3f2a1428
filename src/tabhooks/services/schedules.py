"""Server schedule use cases (server administrators): create, query, update, delete.

A schedule's next run is computed from its frequency when it is created, changed or resumed,
and moved on by the scheduler (:mod:`tabhooks.schedules.scheduler`) each time it runs. A
suspended schedule has no next run.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tabhooks.errors import BadRequest, ScheduleNameConflict, ScheduleNotFound
from tabhooks.schedules import recurrence as recurrences
from tabhooks.schedules.recurrence import Interval, Recurrence, parse
from tabhooks.services.principal import Principal
from tabhooks.store import Store
from tabhooks.store import schedules as schedules_store
from tabhooks.store.schedules import ACTIVE, SUSPENDED, NewSchedule, Schedule
from tabhooks.store.tables import utcnow_precise

#: Schedule types Tableau Server has; Extract and Flow schedules run tasks here, the others are
#: kept (Subscription schedules are created by TSC's own sample) and run nothing.
TYPES = ("Extract", "Flow", "Subscription", "DataAcceleration")
EXECUTION_ORDERS = ("Parallel", "Serial")
STATES = (ACTIVE, SUSPENDED)
DEFAULT_PRIORITY = 50


@dataclass(frozen=True, slots=True)
class Frequency:
    """``frequency`` and ``<frequencyDetails>`` as sent; ``None`` fields were left out."""

    frequency: str | None = None
    start: str | None = None
    end: str | None = None
    intervals: list[Interval] = field(default_factory=list)

    def recurrence(self) -> Recurrence:
        return parse(self.frequency, self.start, self.end, self.intervals)


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """A Create or Update Schedule request; ``None`` means not given (unchanged on update)."""

    name: str | None = None
    priority: str | None = None
    type: str | None = None
    execution_order: str | None = None
    state: str | None = None
    frequency: Frequency | None = None


def next_run(recurrence: Recurrence, zone: ZoneInfo, after: datetime | None = None) -> datetime:
    return recurrence.next_after(after or utcnow_precise(), zone)


#: Longest schedule name (the column's width).
MAX_NAME = 255


def _check_name(name: str) -> None:
    if len(name.strip()) > MAX_NAME:
        raise BadRequest(f"A schedule name has at most {MAX_NAME} characters.")


def _priority(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_PRIORITY
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 100:
        raise BadRequest(f"priority must be a whole number from 1 to 100, not '{raw[:20]}'.")
    return int(raw)


def _one_of(raw: str | None, allowed: tuple[str, ...], what: str, default: str) -> str:
    if raw is None or raw == "":
        return default
    for value in allowed:
        if raw.lower() == value.lower():
            return value
    raise BadRequest(f"{what} must be one of {', '.join(allowed)}, not '{raw[:40]}'.")


async def create(
    store: Store, principal: Principal, spec: ScheduleSpec, zone: ZoneInfo
) -> Schedule:
    principal.require_server_admin()
    if not spec.name or not spec.name.strip():
        raise BadRequest("The schedule name is required.")
    _check_name(spec.name)
    if spec.type is None:
        raise BadRequest("The schedule type is required (Extract, Flow or Subscription).")
    if spec.frequency is None:
        raise BadRequest("The schedule frequency and <frequencyDetails> are required.")
    recurrence = spec.frequency.recurrence()
    state = _one_of(spec.state, STATES, "state", ACTIVE)
    new = NewSchedule(
        name=spec.name.strip(),
        type=_one_of(spec.type, TYPES, "type", "Extract"),
        frequency=recurrence.frequency,
        start_time=recurrence.start.isoformat("seconds"),
        end_time=recurrence.end.isoformat("seconds") if recurrence.end else None,
        intervals=recurrence.intervals,
        priority=_priority(spec.priority),
        execution_order=_one_of(
            spec.execution_order, EXECUTION_ORDERS, "executionOrder", "Parallel"
        ),
        state=state,
        next_run_at=next_run(recurrence, zone) if state == ACTIVE else None,
    )
    try:
        async with store.write() as conn:
            if await schedules_store.named(conn, new.name or "") is not None:
                raise ScheduleNameConflict(f"A schedule named '{new.name}' already exists.")
            return await schedules_store.create(conn, new)
    except IntegrityError as exc:  # a concurrent create of the same name
        raise ScheduleNameConflict(f"A schedule named '{new.name}' already exists.") from exc


async def require(conn: AsyncConnection, schedule_id: str) -> Schedule:
    schedule = await schedules_store.get(conn, schedule_id)
    if schedule is None or schedule.site_id is not None:
        raise ScheduleNotFound(f"No schedule with id '{schedule_id}' exists.")
    return schedule


async def get(store: Store, principal: Principal, schedule_id: str) -> Schedule:
    principal.require_server_admin()
    async with store.read() as conn:
        return await require(conn, schedule_id)


async def listing(
    store: Store, principal: Principal, *, names: tuple[str, ...] | None, offset: int, limit: int
) -> tuple[list[Schedule], int]:
    principal.require_server_admin()
    async with store.read() as conn:
        return await schedules_store.page(conn, names=names, offset=offset, limit=limit)


async def update(
    store: Store, principal: Principal, schedule_id: str, spec: ScheduleSpec, zone: ZoneInfo
) -> Schedule:
    """Change what was given; the next run is recomputed when the frequency or state changes."""
    principal.require_server_admin()
    try:
        async with store.write() as conn:
            current = await require(conn, schedule_id)
            return await apply(conn, current, spec, zone)
    except IntegrityError as exc:
        raise ScheduleNameConflict(f"A schedule named '{spec.name}' already exists.") from exc


async def apply(
    conn: AsyncConnection, current: Schedule, spec: ScheduleSpec, zone: ZoneInfo
) -> Schedule:
    """Write ``spec``'s changes to ``current`` in the caller's transaction."""
    values: dict[str, object] = {}
    if spec.name is not None and spec.name.strip() and spec.name.strip() != current.name:
        name = spec.name.strip()
        _check_name(name)
        if await schedules_store.named(conn, name) is not None:
            raise ScheduleNameConflict(f"A schedule named '{name}' already exists.")
        values["name"] = name
    if spec.priority:
        values["priority"] = _priority(spec.priority)
    if spec.execution_order:
        values["execution_order"] = _one_of(
            spec.execution_order, EXECUTION_ORDERS, "executionOrder", current.execution_order
        )
    state = _one_of(spec.state, STATES, "state", current.state)
    recurrence = recurrences.of(current)
    if spec.frequency is not None:
        given = spec.frequency
        recurrence = replace(
            given,
            frequency=given.frequency or current.frequency,
            start=given.start or current.start_time,
            end=given.end if given.end is not None else current.end_time,
        ).recurrence()
        values.update(
            frequency=recurrence.frequency,
            start_time=recurrence.start.isoformat("seconds"),
            end_time=recurrence.end.isoformat("seconds") if recurrence.end else None,
            intervals=recurrence.intervals,
        )
    if state != current.state or spec.frequency is not None:
        values["state"] = state
        values["next_run_at"] = next_run(recurrence, zone) if state == ACTIVE else None
    await schedules_store.change(conn, current.id, **values)
    changed = await schedules_store.get(conn, current.id)
    assert changed is not None
    return changed


async def set_state(
    store: Store, principal: Principal, schedule_id: str, state: str, zone: ZoneInfo
) -> Schedule:
    """Suspend or resume (the CLI's ``schedules suspend|resume``)."""
    return await update(store, principal, schedule_id, ScheduleSpec(state=state), zone)


async def delete(store: Store, principal: Principal, schedule_id: str) -> None:
    """Delete a schedule and its tasks (Tableau deletes the tasks with it)."""
    principal.require_server_admin()
    async with store.write() as conn:
        await require(conn, schedule_id)
        await schedules_store.remove(conn, schedule_id)
