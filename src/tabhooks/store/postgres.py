"""The PostgreSQL back end: shared by any number of servers and workers.

Transactions go through SQLAlchemy's async engine on psycopg. Concurrent dispatchers claim
side by side with ``FOR UPDATE SKIP LOCKED``, each taking rows the others have not locked;
``NOTIFY`` (which PostgreSQL delivers when the transaction commits) wakes the other processes,
and one LISTEN connection per store hears every channel this process listens on
(:mod:`tabhooks.store.listen`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import URL, Select, Text, bindparam, event, func, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from tabhooks.clock import utcnow_precise
from tabhooks.store.backend import BACKEND_KEY
from tabhooks.store.deliveries import (
    DELIVERING,
    ClaimForm,
    due_rows,
    sending_columns,
    with_sending_context,
)
from tabhooks.store.listen import Listener, Subscription
from tabhooks.store.tables import UTCDateTime, deliveries, webhook_secrets

_Query = TypeVar("_Query", bound=Select[Any])


class PostgresBackend:
    """The store on a PostgreSQL database; see the module docstring."""

    name = "postgresql"
    shared = True
    database_path: Path | None = None

    def __init__(self, url: URL, **engine_kw: Any) -> None:
        self.url = url
        self.engine: AsyncEngine = create_async_engine(
            url, pool_size=10, max_overflow=10, pool_pre_ping=True, **engine_kw
        )
        self._listener: Listener | None = None

        @event.listens_for(self.engine.sync_engine, "connect")
        def _on_connect(_dbapi_conn: Any, record: Any) -> None:
            record.info[BACKEND_KEY] = self

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """One transaction: a consistent snapshot."""
        async with self.engine.connect() as conn, conn.begin():
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def listen(self, subscription: Subscription) -> AsyncIterator[None]:
        if self._listener is None:
            dsn = self.url.set(drivername="postgresql").render_as_string(hide_password=False)
            self._listener = Listener(dsn)
        async with self._listener.listening(subscription):
            yield

    async def notify(self, conn: AsyncConnection, channel: str, payload: str = "") -> None:
        await conn.execute(
            text("SELECT pg_notify(:channel, :payload)"), {"channel": channel, "payload": payload}
        )

    async def serialise(self, conn: AsyncConnection, key: int) -> None:
        """A transaction-scoped advisory lock: released by the commit or rollback."""
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})

    def lock_rows(self, query: _Query, *, skip_locked: bool = False) -> _Query:
        return query.with_for_update(skip_locked=skip_locked)

    def lock_referenced(self, query: _Query) -> _Query:
        return query.with_for_update(key_share=True)

    @asynccontextmanager
    async def scrub_freed_pages(self, conn: AsyncConnection) -> AsyncIterator[None]:
        yield

    def transaction_memo(self, conn: AsyncConnection) -> None:
        """None: other processes write meanwhile, so a transaction cannot tell what changed."""
        return None

    def driver_cursor(self, conn: AsyncConnection, flush: bool) -> None:
        """None: named statements run as SQLAlchemy Core statements here."""
        return None

    def defer(self, conn: AsyncConnection, statement: Any, rows: Sequence[Sequence[Any]]) -> bool:
        return False

    async def claim_deliveries(
        self,
        conn: AsyncConnection,
        *,
        worker_id: str,
        limit: int,
        lease_s: float,
        destination: str | None,
        exclude_destinations: Collection[str],
    ) -> Sequence[Sequence[Any]]:
        """Lease the due rows and read what sending needs, in one statement."""
        now = utcnow_precise()
        parameters: dict[str, Any] = {
            "now": now,
            "limit": limit,
            "until": now + timedelta(seconds=lease_s),
            "worker": worker_id,
        }
        if destination is not None:
            form = ClaimForm.ONE
            parameters["line"] = destination
        elif exclude_destinations:
            form = ClaimForm.OTHERS
            parameters["excluded"] = list(exclude_destinations)
        else:
            form = ClaimForm.ANY
        return (await conn.execute(_CLAIMS[form], parameters)).all()

    def truncate_wal(self) -> None:
        """Nothing: PostgreSQL manages its own write-ahead log."""

    async def dispose(self) -> None:
        if self._listener is not None:
            await self._listener.close()
        await self.engine.dispose()


def _claim_statement(form: ClaimForm) -> Any:
    """``WITH claimed AS (UPDATE ... WHERE id IN (due FOR UPDATE SKIP LOCKED) RETURNING ...)``
    and what sending needs, for :meth:`PostgresBackend.claim_deliveries`."""
    # Skipped destinations come as one array parameter, so one statement takes any number.
    skipped = deliveries.c.destination != func.all(
        bindparam("excluded", type_=postgresql.ARRAY(Text))
    )
    until = bindparam("until", type_=UTCDateTime())
    leased = (
        update(deliveries)
        .where(
            deliveries.c.id.in_(
                due_rows(form, skipped).with_for_update(skip_locked=True).scalar_subquery()
            )
        )
        .values(
            status=DELIVERING,
            next_attempt_at=until,
            lease_expires_at=until,
            leased_by=bindparam("worker"),
            updated_at=bindparam("now", type_=UTCDateTime()),
        )
        .returning(
            deliveries.c.id,
            deliveries.c.webhook_id,
            deliveries.c.site_id,
            deliveries.c.attempts,
            deliveries.c.schedule_base,
            deliveries.c.body,
            deliveries.c.destination,
            deliveries.c.event_id,
            deliveries.c.relay_target_id,
        )
        .cte("claimed")
    )
    return with_sending_context(select(*sending_columns(leased)), leased).order_by(
        leased.c.id, webhook_secrets.c.created_at.desc()
    )


_CLAIMS = {form: _claim_statement(form) for form in ClaimForm}
