"""Named statements over relay routes and targets, and the relay side of the outbox.

:func:`enqueue` is the relay's :func:`~tabhooks.store.outbox.emit`: one ``events`` row for what
arrived and one delivery per target, in the caller's transaction, so a relayed message is as
durable (and as retried) as any webhook delivery. A target whose template failed to render is
stored straight away as a failed delivery with one attempt that says why — the attempt log is
where people look when a message did not arrive.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tabhooks.errors import Conflict
from tabhooks.ids import new_id, new_uuid7
from tabhooks.store import outbox
from tabhooks.store.tables import (
    attempts,
    contents,
    deliveries,
    events,
    projects,
    relay_routes,
    relay_targets,
    sites,
    users,
    utcnow_precise,
)


@dataclass(frozen=True, slots=True)
class Queued:
    """One delivery :func:`enqueue` wrote; ``error`` is set when it was failed at once."""

    delivery_id: str
    target_id: str
    error: str | None


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One target's rendered body for :func:`enqueue`, or why it could not be rendered."""

    target_id: str
    body: str | None
    error: str | None


async def insert_route(
    conn: AsyncConnection, route: dict[str, Any], targets: Sequence[dict[str, Any]]
) -> None:
    try:
        await conn.execute(insert(relay_routes).values(**route))
    except IntegrityError as exc:
        raise Conflict(f"A relay route named '{route['name']}' already exists.") from exc
    await _insert_targets(conn, route["id"], targets)


async def _insert_targets(
    conn: AsyncConnection, route_id: str, targets: Sequence[dict[str, Any]]
) -> None:
    rows = [
        {**t, "id": new_id("rtg_"), "route_id": route_id, "position": i}
        for i, t in enumerate(targets)
    ]
    if rows:
        await conn.execute(insert(relay_targets), rows)


async def replace_route(
    conn: AsyncConnection,
    route_id: str,
    changes: dict[str, Any],
    targets: Sequence[dict[str, Any]] | None,
) -> None:
    """Change a route; new ``targets`` replace the old (their past deliveries go with them)."""
    try:
        await conn.execute(
            update(relay_routes).where(relay_routes.c.id == route_id).values(**changes)
        )
    except IntegrityError as exc:
        raise Conflict(f"A relay route named '{changes.get('name')}' already exists.") from exc
    if targets is not None:
        await conn.execute(delete(relay_targets).where(relay_targets.c.route_id == route_id))
        await _insert_targets(conn, route_id, targets)


async def remove_route(conn: AsyncConnection, site_id: str, route_id: str) -> bool:
    result = await conn.execute(
        delete(relay_routes).where(relay_routes.c.id == route_id, relay_routes.c.site_id == site_id)
    )
    return result.rowcount > 0


async def get_route(conn: AsyncConnection, route_id: str) -> dict[str, Any] | None:
    """The route with its ``targets`` (in order), whatever its site: the id is the capability."""
    row = (await conn.execute(select(relay_routes).where(relay_routes.c.id == route_id))).first()
    if row is None:
        return None
    found = await _targets(conn, [route_id])
    return {**row._mapping, "targets": found.get(route_id, [])}


async def list_routes(conn: AsyncConnection, site_id: str) -> list[dict[str, Any]]:
    rows = (
        await conn.execute(
            select(relay_routes)
            .where(relay_routes.c.site_id == site_id)
            .order_by(relay_routes.c.created_at, relay_routes.c.id)
        )
    ).all()
    found = await _targets(conn, [r.id for r in rows])
    return [{**r._mapping, "targets": found.get(r.id, [])} for r in rows]


async def _targets(
    conn: AsyncConnection, route_ids: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    if not route_ids:
        return {}
    rows = await conn.execute(
        select(relay_targets)
        .where(relay_targets.c.route_id.in_(route_ids))
        .order_by(relay_targets.c.position)
    )
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        target = dict(row._mapping)
        target["headers"] = json.loads(target["headers"] or "{}")
        out.setdefault(row.route_id, []).append(target)
    return out


async def site_content_url(conn: AsyncConnection, site_id: str) -> str | None:
    """The content URL of a site this server hosts, or ``None`` when it is not ours."""
    if not site_id:
        return None
    row = (await conn.execute(select(sites.c.content_url).where(sites.c.id == site_id))).first()
    return row.content_url if row else None


async def lookup_content(conn: AsyncConnection, site_id: str, luid: str) -> dict[str, Any] | None:
    """Project and owner of a workbook, data source or flow hosted here (enrichment)."""
    row = (
        await conn.execute(
            select(
                contents.c.kind,
                contents.c.name,
                contents.c.content_url,
                contents.c.description,
                projects.c.name.label("project"),
                users.c.name.label("owner"),
                users.c.email.label("owner_email"),
            )
            .join(projects, projects.c.id == contents.c.project_id)
            .outerjoin(users, users.c.id == contents.c.owner_id)
            .where(contents.c.id == luid, contents.c.site_id == site_id)
        )
    ).first()
    return dict(row._mapping) if row else None


async def enqueue(
    conn: AsyncConnection,
    *,
    site_id: str,
    event_name: str,
    resource: str,
    resource_name: str,
    resource_luid: str,
    payload: str,
    outgoing: Sequence[Outgoing],
) -> list[Queued]:
    """Store what arrived and one delivery per target, in the caller's transaction."""
    now = utcnow_precise()
    event_id = new_uuid7()
    await conn.execute(
        insert(events).values(
            id=event_id,
            site_id=site_id,
            event=event_name[:64],
            resource=resource[:16],
            resource_name=resource_name,
            resource_luid=resource_luid[:64],
            payload=payload,
            created_at=now,
        )
    )
    queued = [Queued(new_id(outbox.DELIVERY_ID_PREFIX), o.target_id, o.error) for o in outgoing]
    if not queued:
        return []
    await conn.execute(
        insert(deliveries),
        [
            _delivery_row(q, o, event_id=event_id, site_id=site_id, now=now)
            for q, o in zip(queued, outgoing, strict=True)
        ],
    )
    failed = [q for q in queued if q.error is not None]
    if failed:
        await conn.execute(insert(attempts), [_render_failure(q, now) for q in failed])
    if len(failed) < len(queued):
        await outbox.signal_new_work(conn)
    return queued


def _delivery_row(
    q: Queued, o: Outgoing, *, event_id: str, site_id: str, now: datetime
) -> dict[str, Any]:
    return {
        "id": q.delivery_id,
        "event_id": event_id,
        "webhook_id": None,
        "relay_target_id": o.target_id,
        "body": o.body,
        "site_id": site_id,
        "status": "failed" if q.error else "pending",
        "attempts": 1 if q.error else 0,
        "schedule_base": 0,
        "next_attempt_at": None if q.error else now,
        "last_error": "render" if q.error else None,
        "created_at": now,
        "updated_at": now,
        "completed_at": now if q.error else None,
    }


def _render_failure(q: Queued, now: datetime) -> dict[str, Any]:
    return {
        "id": new_id("att_"),
        "delivery_id": q.delivery_id,
        "number": 1,
        "started_at": now,
        "duration_ms": 0.0,
        "status_code": None,
        "error": "render",
        "detail": q.error,
        "response_headers": "{}",
        "response_body": b"",
    }
