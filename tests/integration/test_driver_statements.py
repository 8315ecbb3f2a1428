"""Statements run on the SQLite driver store exactly what SQLAlchemy's execute would store."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import NamedTuple

import pytest
from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError

from tabhooks.store import migrate, open_store
from tabhooks.store.driver import DriverStatement, insert_into
from tabhooks.store.tables import deliveries, events, sites
from tests.conftest import database_url_for

COLUMNS = (
    "id", "event_id", "webhook_id", "site_id", "status", "attempts", "schedule_base",
    "next_attempt_at", "lease_expires_at", "leased_by", "created_at", "updated_at",
)  # fmt: skip


def _delivery(event_id: str, when: datetime, **overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "id": f"msg_{uuid.uuid4().hex}",
        "event_id": event_id,
        "webhook_id": None,
        "site_id": "site",
        "status": "pending",
        "attempts": 0,
        "schedule_base": 0,
        "next_attempt_at": when,
        "lease_expires_at": None,
        "leased_by": None,
        "created_at": when,
        "updated_at": when,
    }
    row.update(overrides)
    return row


async def test_driver_rows_equal_core_rows(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    store = open_store(database_url_for(backend, request, tmp_path))
    try:
        await migrate(store)
        event_id = str(uuid.uuid4())
        # Aware in another zone, aware UTC, whole seconds: all stored as naive UTC.
        moments = [
            datetime(2026, 11, 29, 15, 4, 5, 123456, tzinfo=timezone(timedelta(hours=2))),
            datetime(2026, 11, 29, 13, 4, 5, tzinfo=UTC),
        ]
        by_core = [_delivery(event_id, m, leased_by="wrk_1") for m in moments]
        by_driver = [_delivery(event_id, m, leased_by="wrk_1") for m in moments]
        by_values = [_delivery(event_id, m, leased_by="wrk_1") for m in moments]
        async with store.write() as conn:
            await conn.execute(
                insert(sites),
                {"id": "site", "name": "Site", "content_url": "site", "state": "Active",
                 "admin_mode": "ContentAndUsers", "created_at": moments[0],
                 "updated_at": moments[0]},
            )  # fmt: skip
            await conn.execute(
                insert(events),
                {"id": event_id, "site_id": "site", "event": "WorkbookCreated",
                 "resource": "WORKBOOK", "resource_name": "W", "resource_luid": "l",
                 "payload": "{}", "created_at": moments[0]},
            )  # fmt: skip
            await conn.execute(insert(deliveries), by_core)
            await insert_into(deliveries, COLUMNS).execute_many(conn, by_driver)
            # Rows given positionally, in the statement's column order, store the same.
            await insert_into(deliveries, COLUMNS).execute_many_values(
                conn, [tuple(row[c] for c in COLUMNS) for row in by_values]
            )
            # Values the statement carries itself (leased_by=None) apply when not given.
            release = DriverStatement(
                update(deliveries)
                .where(deliveries.c.id == bindparam("b_id"))
                .values(status=bindparam("b_status"), leased_by=None)
            )
            await release.execute_many(conn, [{"b_id": by_driver[1]["id"], "b_status": "x"}])
            await conn.execute(
                update(deliveries)
                .where(deliveries.c.id == by_core[1]["id"])
                .values(status="x", leased_by=None)
            )
        async with store.read() as conn:
            stored = {r.id: r._mapping for r in await conn.execute(select(deliveries))}
            # A SELECT through the driver compares parameters the way Core does.
            due = DriverStatement(
                select(deliveries.c.id).where(deliveries.c.next_attempt_at <= bindparam("now"))
            )
            found = await due.execute(conn, {"now": moments[1]})
        for core, driver, values in zip(by_core, by_driver, by_values, strict=True):
            expected = {k: v for k, v in stored[str(core["id"])].items() if k != "id"}
            assert {k: v for k, v in stored[str(driver["id"])].items() if k != "id"} == expected
            if core is by_core[0]:  # the second pair was then released, the values row not
                assert {k: v for k, v in stored[str(values["id"])].items() if k != "id"} == (
                    expected
                )
        assert stored[str(by_driver[0]["id"])]["next_attempt_at"] == moments[0]
        assert stored[str(by_driver[1]["id"])]["leased_by"] is None
        assert sorted(row[0] for row in found) == sorted(
            str(r["id"])
            for r in by_core + by_driver + by_values
            if r["next_attempt_at"] <= moments[1]
        )
        assert len(found) == 3  # 13:04:05.123456 UTC is later than 13:04:05
    finally:
        await store.dispose()


async def test_a_missing_parameter_is_an_error_not_a_null(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'driver.db'}")
    try:
        await migrate(store)
        with pytest.raises(KeyError, match="created_at"):
            async with store.write() as conn:
                await insert_into(events, ("id", "created_at")).execute(conn, {"id": "e"})
    finally:
        await store.dispose()


async def test_positional_rows_must_give_every_parameter(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'driver.db'}")
    try:
        await migrate(store)
        with pytest.raises(ValueError, match="2 parameters expected, 1 given"):
            async with store.write() as conn:
                await insert_into(events, ("id", "created_at")).execute_values(conn, ("e",))
    finally:
        await store.dispose()


def test_insert_into_takes_rows_in_its_column_order() -> None:
    """SQLAlchemy writes an INSERT's columns in table order and adds those with defaults;
    positional rows would silently shift if ``insert_into`` accepted anything else."""
    assert insert_into(deliveries, COLUMNS).names == COLUMNS
    with pytest.raises(ValueError, match="not in column order"):
        insert_into(deliveries, ("status", "id", "created_at", "updated_at", "event_id"))
    with pytest.raises(ValueError, match="not in column order"):
        insert_into(deliveries, ("id", "event_id", "site_id", "status", "created_at"))


async def test_driver_errors_are_sqlalchemys(tmp_path: Path) -> None:
    """Callers catch SQLAlchemy's exceptions whichever way the statement ran."""
    store = open_store(f"sqlite:///{tmp_path / 'driver.db'}")
    try:
        await migrate(store)
        statement = DriverStatement(text("INSERT INTO filler (id) VALUES (:id)"))
        with pytest.raises(IntegrityError):
            async with store.write() as conn:
                await conn.execute(text("CREATE TABLE filler (id INTEGER PRIMARY KEY)"))
                await statement.execute_many(conn, [{"id": 1}, {"id": 1}])
        with pytest.raises(OperationalError, match="no such table"):
            async with store.write() as conn:
                await statement.execute(conn, {"id": 2})
    finally:
        await store.dispose()


class _Moved(NamedTuple):
    """Fields in another order than the statement's placeholders, one of them used twice."""

    id: str
    when: datetime
    worker: str


async def test_declared_rows_take_their_placeholders_by_name(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A statement built with ``row=`` takes rows of that type whatever its placeholders'
    order (a repeated placeholder takes the same field), on both databases."""
    store = open_store(database_url_for(backend, request, tmp_path))
    try:
        await migrate(store)
        lease = DriverStatement(
            update(deliveries)
            .where(deliveries.c.id == bindparam("b_id"))
            .values(
                next_attempt_at=bindparam("b_when"),
                lease_expires_at=bindparam("b_when"),
                leased_by=bindparam("b_worker"),
            ),
            row=_Moved,
            prefix="b_",
        )
        assert lease.names == ("b_when", "b_when", "b_worker", "b_id")
        event_id = str(uuid.uuid4())
        moment = datetime(2026, 12, 5, 9, 0, 0, 250000, tzinfo=UTC)
        queued = [_delivery(event_id, moment) for _ in range(2)]
        async with store.write() as conn:
            await conn.execute(
                insert(sites),
                {"id": "site", "name": "s", "content_url": "s", "created_at": moment,
                 "updated_at": moment},
            )  # fmt: skip
            await conn.execute(
                insert(events),
                {"id": event_id, "site_id": "site", "event": "WorkbookCreated",
                 "resource": "workbook", "resource_name": "W", "resource_luid": "l",
                 "payload": "{}", "created_at": moment},
            )  # fmt: skip
            await conn.execute(insert(deliveries), queued)
            later = moment + timedelta(seconds=30)
            await lease.execute_many_values(
                conn, [_Moved(row["id"], later, f"wrk_{n}") for n, row in enumerate(queued)]
            )
        async with store.read() as conn:
            got = (
                await conn.execute(
                    select(
                        deliveries.c.next_attempt_at,
                        deliveries.c.lease_expires_at,
                        deliveries.c.leased_by,
                    ).order_by(deliveries.c.leased_by)
                )
            ).all()
        assert [tuple(row) for row in got] == [(later, later, "wrk_0"), (later, later, "wrk_1")]
    finally:
        await store.dispose()


def test_a_placeholder_no_field_names_is_refused() -> None:
    with pytest.raises(ValueError, match="name no field of _Moved"):
        DriverStatement(
            update(deliveries)
            .where(deliveries.c.id == bindparam("b_id"))
            .values(leased_by=bindparam("b_owner")),
            row=_Moved,
            prefix="b_",
        )
