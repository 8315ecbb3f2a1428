"""Named statements over the ``webhooks`` table (always scoped to one site)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, String, bindparam, delete, select, update
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from tabhooks.clock import utcnow
from tabhooks.errors import WebhookNameConflict
from tabhooks.models import Webhook, WebhookOut
from tabhooks.store.driver import insert_into
from tabhooks.store.tables import users, webhooks


def _with_owner() -> Select[tuple[object, ...]]:
    return select(webhooks, users.c.name.label("owner_name")).outerjoin(
        users, users.c.id == webhooks.c.owner_id
    )


def _conflict(name: object) -> WebhookNameConflict:
    return WebhookNameConflict(f"A webhook named '{name}' already exists on this site.")


async def create(
    conn: AsyncConnection,
    *,
    site_id: str,
    name: str,
    event: str,
    url: str,
    is_enabled: bool,
    status_change_reason: str,
    owner_id: str,
    owner_name: str | None = None,
) -> Webhook:
    """Insert a webhook and return it as stored (no read-back: the values are all here)."""
    now = utcnow()
    row: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "site_id": site_id,
        "name": name,
        "event": event,
        "url": url,
        "method": "POST",
        "is_enabled": is_enabled,
        "status_change_reason": status_change_reason,
        "owner_id": owner_id,
        "consecutive_failures": 0,
        "created_at": now,
        "updated_at": now,
    }
    try:
        # A failed INSERT ends the whole write transaction, which the caller rolls back.
        # The unique (site_id, name) index is the check: no SELECT first.
        await _INSERT.execute(conn, row)
    except IntegrityError as exc:
        raise _conflict(name) from exc
    return Webhook(owner_name=owner_name, **row)


#: Built once, values bound per call: ``insert().values(row)`` built a statement and then
#: walked its literal values for the cache key on every create, a fifth of Create Webhook.
#: On SQLite it runs straight on the driver (see :mod:`tabhooks.store.driver`).
_INSERT = insert_into(
    webhooks,
    ("id", "site_id", "name", "event", "url", "method", "is_enabled", "status_change_reason",
     "owner_id", "consecutive_failures", "created_at", "updated_at"),
)  # fmt: skip


class _SQLiteUTCText(String):
    """SQLite's stored ``YYYY-MM-DD HH:MM:SS[.ffffff]`` text, rewritten as Tableau's.

    SQLite's ``strftime`` costs about 0.45 µs a call, three times the Python slicing here:
    0.9 ms of a 1,000-row list, a fifth of it. The first 19 characters are the same in
    every form SQLite stores (SQLAlchemy's, ``CURRENT_TIMESTAMP``, ISO 8601), all naive UTC.
    """

    cache_ok = True

    def result_processor(
        self, dialect: Dialect, coltype: object
    ) -> Callable[[Any], str | None] | None:
        def process(value: str | None) -> str | None:
            return None if value is None else f"{value[:10]}T{value[11:19]}Z"

        return process


#: Text as read: PostgreSQL's ``to_char`` already answers in the wire format; SQLite's stored
#: text is reshaped (a variant SQLAlchemy picks per database).
_UTCTextType = String().with_variant(_SQLiteUTCText(), "sqlite")


class _UTCText(FunctionElement[str]):
    """A stored timestamp as ``YYYY-MM-DDTHH:MM:SSZ`` text, as Tableau writes it.

    Get and List Webhooks send timestamps only as this text, so they read it as text: parsing
    SQLite's stored text into a datetime per column and row (as the ``UTCDateTime`` type
    does) and formatting it back cost more than reading the row. PostgreSQL formats it
    (``to_char``); SQLite's stored text is reshaped by :class:`_UTCTextType`. Both dialects
    store naive UTC, so no zone conversion is needed.
    """

    type = _UTCTextType
    inherit_cache = True
    name = "utc_text"


@compiles(_UTCText)
def _utc_text_postgresql(element: _UTCText, compiler: SQLCompiler, **kw: Any) -> str:
    # to_char, not ::text, so the server's DateStyle cannot change the answer.
    return f"""to_char({compiler.process(element.clauses, **kw)}, 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"""


@compiles(_UTCText, "sqlite")
def _utc_text_sqlite(element: _UTCText, compiler: SQLCompiler, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))  # the stored text, as is


def _utc_text(column: ColumnElement[Any]) -> ColumnElement[str]:
    return _UTCText(column).label(column.key)


# Built once: Get and List Webhooks are the hottest reads, and composing a statement costs
# more than SQLite spends answering it. The columns are WebhookOut's, in its order.
_GET = _with_owner().where(
    webhooks.c.site_id == bindparam("site_id"), webhooks.c.id == bindparam("webhook_id")
)
_OUT = select(
    webhooks.c.id,
    webhooks.c.name,
    webhooks.c.event,
    webhooks.c.url,
    webhooks.c.method,
    webhooks.c.is_enabled,
    webhooks.c.status_change_reason,
    webhooks.c.owner_id,
    users.c.name.label("owner_name"),
    _utc_text(webhooks.c.created_at),
    _utc_text(webhooks.c.updated_at),
).outerjoin(users, users.c.id == webhooks.c.owner_id)
_GET_OUT = _OUT.where(
    webhooks.c.site_id == bindparam("site_id"), webhooks.c.id == bindparam("webhook_id")
)
_LIST_OUT = _OUT.where(webhooks.c.site_id == bindparam("site_id")).order_by(
    webhooks.c.created_at, webhooks.c.name
)


async def get(conn: AsyncConnection, site_id: str, webhook_id: str) -> Webhook | None:
    row = (await conn.execute(_GET, {"site_id": site_id, "webhook_id": webhook_id})).first()
    return Webhook.from_row(row) if row else None


async def get_out(conn: AsyncConnection, site_id: str, webhook_id: str) -> WebhookOut | None:
    """One webhook as Get Webhook sends it (see :data:`WebhookOut`)."""
    result = await conn.execute(_GET_OUT, {"site_id": site_id, "webhook_id": webhook_id})
    return result.first()


async def list_for_site(conn: AsyncConnection, site_id: str) -> Sequence[WebhookOut]:
    """A site's webhooks as List Webhooks sends them, oldest first (ties by name)."""
    # all() fetches in one driver call (iterating fetches row by row); the rows are returned
    # as they are, with no copy into other objects (see WebhookOut).
    return (await conn.execute(_LIST_OUT, {"site_id": site_id})).all()


async def change(conn: AsyncConnection, site_id: str, webhook_id: str, **values: object) -> None:
    values["updated_at"] = utcnow()
    try:
        async with conn.begin_nested():
            await conn.execute(
                update(webhooks)
                .where(webhooks.c.site_id == site_id, webhooks.c.id == webhook_id)
                .values(values)
            )
    except IntegrityError as exc:
        raise _conflict(values.get("name")) from exc


async def remove(conn: AsyncConnection, site_id: str, webhook_id: str) -> bool:
    result = await conn.execute(
        delete(webhooks).where(webhooks.c.site_id == site_id, webhooks.c.id == webhook_id)
    )
    return result.rowcount > 0


async def reassign_owner(
    conn: AsyncConnection, site_id: str, from_user_id: str, to_user_id: str
) -> None:
    """Give a departing user's webhooks to another user, as Tableau does with content."""
    await conn.execute(
        update(webhooks)
        .where(webhooks.c.site_id == site_id, webhooks.c.owner_id == from_user_id)
        .values(owner_id=to_user_id)
    )
