"""Passes over every stored secret: seal what is in clear at start-up, re-seal on rotation.

Both read and write the :class:`~tabhooks.store.crypto.SealedText` columns as raw text, so they
see exactly what is stored. Each change is conditional on the value still being the one read,
so a process writing the same row meanwhile (PostgreSQL stores are shared) is never overwritten
with an older secret; what it wrote was sealed with the newest key already.

On SQLite the pass runs with ``secure_delete`` on and truncates the write-ahead log afterwards,
so the replaced values (a secret in clear, a ciphertext under a retired key) are overwritten in
the database file rather than left in free space or in the log. PostgreSQL keeps old row
versions until VACUUM reuses their space; docs/security.md says what to do about that.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sqlalchemy import Column, Table, Text, and_, or_, select, type_coerce, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tabhooks.store.backend import backend_of
from tabhooks.store.crypto import SealedText, SecretBox, SecretKeyError, installed, is_sealed
from tabhooks.store.engine import Store
from tabhooks.store.tables import metadata


@dataclass(frozen=True, slots=True)
class SealCount:
    """What one pass found: values it (re)sealed, and values that were fine as stored."""

    changed: int
    unchanged: int


def sealed_columns() -> Iterator[tuple[Table, list[Column[str]]]]:
    """Every table with sealed columns, and those columns (from the one metadata)."""
    for table in metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, SealedText)]
        if columns:
            yield table, columns


async def seal_stored_secrets(store: Store) -> SealCount:
    """The start-up step: seal every secret still in clear, and check the keys open the rest.

    Idempotent, and cheap when everything is sealed already (one read of a few small tables;
    the values it opens are the ones the dispatcher will need, now in the box's cache). The
    installed box is needed only when something is stored.

    Raises:
        SecretKeyError: Sealed values that none of the keys opens: the process would fail on
            them later, one request or delivery at a time.
    """

    def action(box: SecretBox, value: str) -> str | None:
        if is_sealed(value):
            box.open(value)
            return None
        return box.seal(value)

    return await _pass(store, action)


async def rotate_stored_secrets(store: Store) -> SealCount:
    """Re-seal every stored secret under the newest key (``tabhooks admin rotate-key``).

    Values in clear are sealed too; values already under the newest key are left alone, so
    running it again (after an interruption, say) only does what is left.

    Raises:
        SecretKeyError: As for :func:`seal_stored_secrets`; nothing is changed then.
    """

    def action(box: SecretBox, value: str) -> str | None:
        if not is_sealed(value):
            return box.seal(value)
        if box.sealed_with_newest(value):
            return None
        return box.reseal(value)

    return await _pass(store, action)


#: What a pass does with one stored value: its replacement, or ``None`` to keep it as stored.
_Action = Callable[[SecretBox, str], str | None]


async def _pass(store: Store, action: _Action) -> SealCount:
    changed = unchanged = unopened = 0
    async with store.write() as conn:
        async with backend_of(conn).scrub_freed_pages(conn):
            for table, columns in sealed_columns():
                (key,) = table.primary_key.columns
                raw = [type_coerce(c, Text).label(c.name) for c in columns]
                rows = await conn.execute(
                    select(key, *raw).where(or_(*(c.is_not(None) for c in columns)))
                )
                for row in rows.all():
                    for column, value in zip(columns, row[1:], strict=True):
                        if value is None:
                            continue
                        box = installed()
                        try:
                            new = action(box, value)
                        except SecretKeyError:
                            unopened += 1
                            continue
                        if new is None:
                            unchanged += 1
                        else:
                            await _replace(conn, table, key, row[0], column, value, new)
                            changed += 1
        if unopened:
            raise SecretKeyError(
                f"{unopened} of {unopened + changed + unchanged} stored secrets do not open "
                f"with the key(s) in {installed().source}: they were sealed with another key "
                "(restore it, or list it after the new one until `tabhooks admin rotate-key` "
                "has run)"
            )
    if changed:  # the replaced values must not linger in SQLite's write-ahead log either
        store.truncate_wal()
    return SealCount(changed, unchanged)


async def _replace(
    conn: AsyncConnection,
    table: Table,
    key: Column[str],
    key_value: str,
    column: Column[str],
    old: str,
    new: str,
) -> None:
    """Store ``new`` raw in place of ``old`` (the bound value bypasses :class:`SealedText`)."""
    await conn.execute(
        update(table)
        .where(and_(key == key_value, type_coerce(column, Text) == old))
        .values({column.name: type_coerce(new, Text)})
    )
