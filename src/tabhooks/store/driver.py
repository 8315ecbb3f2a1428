"""The delivery hot path's statements, run straight on the SQLite driver.

Emitting an event and recording an attempt are the statements tabhooks runs most — several per
delivery — and on SQLite SQLAlchemy's execution machinery (execution context, events, result
set-up, parameter processing) costs five to ten times what SQLite itself spends on them. A
:class:`DriverStatement` keeps SQLAlchemy for what it is good at — the statement is a Core
construct, compiled once by SQLAlchemy for SQLite, and every parameter goes through the bind
processor of its SQLAlchemy type, so the stored values are exactly those
:meth:`Connection.execute` would store — and only skips the per-call machinery: the compiled
SQL runs on the same driver connection, inside the same transaction, with ``executemany``.

On any other database it simply executes the Core statement: the connection's back end
(:func:`tabhooks.store.backend.backend_of`) says which.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Table, bindparam, insert
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Executable

from tabhooks.store.backend import backend_of

_SQLITE = sqlite.dialect(paramstyle="qmark")
_MISSING = object()


class DriverStatement:
    """A Core statement compiled once for SQLite and run on the driver (see module docstring).

    Args:
        statement: The statement; every parameter must be a named ``bindparam`` (for an
            ``INSERT``, ``insert(table).values({name: bindparam(name, type_=...)})``).
        order: The placeholder order callers of :meth:`execute_values` build their rows
            in; SQLAlchemy decides the order when it compiles, so a different one is an error
            here rather than shifted values later.
        row: The declared row type (a ``NamedTuple``, see :mod:`tabhooks.store.rows`) rows
            are given as: each placeholder takes the field named like it (less ``prefix``),
            whatever the order, and a placeholder no field names is an error here.
        prefix: What the placeholders' names add to the fields' (an ``UPDATE`` may not name a
            parameter after a column it sets).
        sees_deferred_rows: See :attr:`sees_deferred_rows`.
    """

    def __init__(
        self,
        statement: Executable,
        *,
        order: Sequence[str] | None = None,
        row: type[tuple[Any, ...]] | None = None,
        prefix: str = "",
        sees_deferred_rows: bool = True,
    ) -> None:
        self.statement = statement
        #: False for a statement that reads no table rows are deferred to (see
        #: :meth:`defer_values`): running it then does not write the deferred rows first.
        self.sees_deferred_rows = sees_deferred_rows
        compiled = statement.compile(dialect=_SQLITE)  # type: ignore[attr-defined]
        self.sql: str = str(compiled)
        self.names: tuple[str, ...] = tuple(compiled.positiontup or ())
        if order is not None and self.names != tuple(order):
            raise ValueError(f"placeholders {self.names} are not in column order {tuple(order)}")
        #: For each placeholder, the index of the row field it takes (None: rows are given in
        #: placeholder order already).
        self._take: list[int] | None = None
        if row is not None:
            self._take = _placement(self.names, row, prefix)
        binds = [compiled.binds[name] for name in self.names]
        self._processors: list[Callable[[Any], Any] | None] = [
            bind.type.dialect_impl(_SQLITE).bind_processor(_SQLITE) for bind in binds
        ]
        # Values the statement carries itself (``.values(leased_by=None)``); a named
        # ``bindparam`` without one must be given on every call.
        self._converted = [(i, p) for i, p in enumerate(self._processors) if p is not None]
        # Columns converted by the same function share a memo: a row's ``created_at`` and
        # ``updated_at`` are usually one ``now`` object, converted once.
        shared: dict[Callable[[Any], Any], int] = {}
        self._memo_of = [shared.setdefault(p, len(shared)) for _, p in self._converted]
        self._memo_count = len(shared)
        self._defaults: dict[str, Any] = {
            name: bind.value
            for name, bind in zip(self.names, binds, strict=True)
            if not bind.required
        }

    async def execute(
        self, conn: AsyncConnection, parameters: Mapping[str, Any]
    ) -> Sequence[tuple[Any, ...]]:
        """Run once; returns the rows a ``SELECT`` produced (an empty list otherwise)."""
        if _driver_cursor(conn, flush=False) is None:
            return await self._execute_core(conn, dict(parameters))
        return await self._run_one(conn, self._values_of(parameters))

    async def execute_many(self, conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run once per row of parameters, in one call to the driver."""
        if not rows:
            return
        cursor = _driver_cursor(conn, self.sees_deferred_rows)
        if cursor is None:
            await conn.execute(self.statement, [dict(row) for row in rows])
            return
        self._run_bound(cursor, self._bound([self._values_of(row) for row in rows], None))

    async def execute_values(
        self, conn: AsyncConnection, values: Sequence[Any]
    ) -> Sequence[tuple[Any, ...]]:
        """:meth:`execute` with the parameters given positionally: in placeholder order
        (:attr:`names`), or as the statement's declared row type.

        The hot paths build rows this way: no mapping per row, no lookup per parameter.
        """
        return await self._run_one(conn, self._placed(values))

    async def execute_many_values(
        self, conn: AsyncConnection, rows: Sequence[Sequence[Any]]
    ) -> None:
        """:meth:`execute_many` with each row given as for :meth:`execute_values`."""
        if not rows:
            return
        cursor = _driver_cursor(conn, self.sees_deferred_rows)
        if cursor is None:
            names, placed = self.names, self._placed
            await conn.execute(
                self.statement, [dict(zip(names, placed(row), strict=True)) for row in rows]
            )
            return
        self.run_values(cursor, rows)

    async def defer_values(self, conn: AsyncConnection, rows: Sequence[Sequence[Any]]) -> None:
        """:meth:`execute_many_values`, but on SQLite as late as the transaction allows.

        The rows are kept with the connection and written, in the order they were deferred,
        just before the next statement that may read them and before commit — so no
        statement can tell the difference, and a transaction that defers rows many times
        writes each table's rows in one driver call. Errors (a broken foreign key, say) then
        surface from that later statement or from the commit. Elsewhere it runs at once.
        """
        if not backend_of(conn).defer(conn, self, rows):
            await self.execute_many_values(conn, rows)

    def run_values(self, cursor: Any, rows: Sequence[Sequence[Any]]) -> None:
        """Convert and write ``rows`` (given as for :meth:`execute_values`) with the driver's
        ``executemany`` on ``cursor``."""
        self._run_bound(cursor, self._bound(rows, self._take))

    async def _run_one(self, conn: AsyncConnection, placed: list[Any]) -> Sequence[tuple[Any, ...]]:
        cursor = _driver_cursor(conn, self.sees_deferred_rows)
        if cursor is None:
            return await self._execute_core(conn, dict(zip(self.names, placed, strict=True)))
        (bound,) = self._bound([placed], None)
        try:
            cursor.execute(self.sql, bound)
        except sqlite3.Error as exc:
            raise _translated(self.sql, bound, exc) from exc
        return cursor.fetchall() if cursor.description else []

    def _run_bound(self, cursor: Any, bound: list[list[Any]]) -> None:
        try:
            cursor.executemany(self.sql, bound)
        except sqlite3.Error as exc:
            raise _translated(self.sql, bound, exc) from exc

    def _bound(self, rows: Sequence[Sequence[Any]], take: list[int] | None) -> list[list[Any]]:
        """``rows`` in placeholder order (each through ``take``, see :meth:`_placed`) with the
        typed values converted by their columns' bind processors.

        One loop over the batch instead of two calls per row: the outbox and the recorder
        write four rows per delivery (with a cheaper line check in the dispatcher, 5 % fewer
        instructions per delivery of the benchmark's (b); docs/performance.md, "What issue
        15 cost (b), and what came back"). Rows of one batch share their timestamps (one
        ``now`` per transaction), so each distinct value object is converted once per
        column, not once per row. The memos are keyed by object identity, which is sound
        only while every value is alive: ``rows`` outlives the call.
        """
        width = len(self.names)
        typed = list(zip(self._converted, self._memos(), strict=True))
        bound: list[list[Any]] = []
        for row in rows:
            values = list(row) if take is None else [row[i] for i in take]
            if len(values) != width:
                raise ValueError(f"{width} parameters expected, {len(values)} given")
            for (index, process), memo in typed:
                value = values[index]
                if value is not None:
                    key = id(value)
                    done = memo.get(key, _MISSING)
                    if done is _MISSING:
                        done = memo[key] = process(value)
                    values[index] = done
            bound.append(values)
        return bound

    async def _execute_core(
        self, conn: AsyncConnection, parameters: dict[str, Any]
    ) -> Sequence[tuple[Any, ...]]:
        result = await conn.execute(self.statement, parameters)
        return [tuple(row) for row in result] if result.returns_rows else []

    def _placed(self, row: Sequence[Any]) -> list[Any]:
        """``row``'s values in placeholder order (a fresh list: conversion writes into it)."""
        take = self._take
        return list(row) if take is None else [row[i] for i in take]

    def _memos(self) -> list[dict[int, Any]]:
        """One memo per typed column; columns sharing a conversion share the dict."""
        memos: list[dict[int, Any]] = [{} for _ in range(self._memo_count)]
        return [memos[i] for i in self._memo_of]

    def _values_of(self, parameters: Mapping[str, Any]) -> list[Any]:
        """The parameters in placeholder order, the statement's own values filled in."""
        if self._defaults:
            parameters = {**self._defaults, **parameters}
        return [parameters[name] for name in self.names]


def insert_into(table: Table, columns: Sequence[str] | type[tuple[Any, ...]]) -> DriverStatement:
    """``INSERT INTO table (columns...)`` with one typed parameter per column, named after it.

    Args:
        columns: The columns, or a declared row type (:mod:`tabhooks.store.rows`) whose
            fields are the columns. Rows are given in this order. SQLAlchemy writes an
            ``INSERT``'s columns in table order and adds any column with a default, so
            ``columns`` must be in table order and name those too (checked).
    """
    fields: Sequence[str] = columns._fields if isinstance(columns, type) else columns  # type: ignore[attr-defined]
    return DriverStatement(
        insert(table).values({name: bindparam(name, type_=table.c[name].type) for name in fields}),
        order=fields,
    )


def _placement(names: Sequence[str], row: type[tuple[Any, ...]], prefix: str) -> list[int] | None:
    """For each placeholder, the index of the field of ``row`` it names (see DriverStatement).

    Returns:
        None when the placeholders are the fields, in order: rows go to the driver as they are.

    Raises:
        ValueError: A placeholder names no field of ``row``.
    """
    fields: tuple[str, ...] = row._fields  # type: ignore[attr-defined]
    index = {prefix + field: i for i, field in enumerate(fields)}
    missing = [name for name in names if name not in index]
    if missing:
        raise ValueError(f"placeholders {missing} name no field of {row.__name__} {fields}")
    if tuple(names) == tuple(prefix + field for field in fields):
        return None
    return [index[name] for name in names]


def _translated(sql: str, parameters: Any, error: sqlite3.Error) -> StatementError:
    """The SQLAlchemy exception ``execute`` would raise (``IntegrityError`` for a duplicate)."""
    return DBAPIError.instance(sql, parameters, error, sqlite3.Error)


def _driver_cursor(conn: AsyncConnection, flush: bool = True) -> Any:
    """The driver cursor ``conn``'s back end runs these statements on (SQLite's), else None.

    With ``flush``, rows deferred on the connection are written first (see
    :meth:`DriverStatement.defer_values`).
    """
    return backend_of(conn).driver_cursor(conn, flush)
