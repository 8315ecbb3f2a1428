"""Named statements over ``permission_rules``: who is allowed or denied what, on what.

A rule is one capability in one mode (``Allow``/``Deny``) for one grantee (a user or a group)
on one resource: a project, workbook, data source, flow or view (``scope`` empty), or a
project's default permissions for a content type (``scope`` is the type: ``workbooks``,
``datasources``, ``flows``, ...). A grantee holds at most one mode per capability on a
resource: setting the other mode replaces it, as in Tableau.

Each rule also sets the foreign key column of what it names (project, content or view; user
or group), so deleting any of them deletes its rules, with nothing here to call.

Besides the statements, :func:`readable` builds the SQL condition "the rules on this resource
let the user Read", which listings use so that pages and ``totalAvailable`` count only what
the caller may see.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Self

from sqlalchemy import ColumnElement, and_, delete, exists, insert, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tabhooks.store import groups as groups_store
from tabhooks.store.tables import permission_rules, projects, utcnow

#: The resource types a rule may name and the foreign key column each sets.
_RESOURCE_COLUMN = {
    "project": "project_id",
    "workbook": "content_id",
    "datasource": "content_id",
    "flow": "content_id",
    "view": "view_id",
}
_GRANTEE_COLUMN = {"user": "user_id", "group": "group_id"}


@dataclass(frozen=True, slots=True)
class Rule:
    """One stored capability of one grantee on one resource (or project default)."""

    resource_id: str
    scope: str
    grantee_type: str
    grantee_id: str
    capability: str
    mode: str

    @classmethod
    def from_row(cls, row: Any) -> Self:
        return cls(
            row.resource_id, row.scope, row.grantee_type, row.grantee_id, row.capability, row.mode
        )


@dataclass(frozen=True, slots=True)
class Target:
    """Where rules are written: a resource (``scope`` ``""``) or a project's defaults."""

    site_id: str
    resource_type: str
    resource_id: str
    scope: str = ""


def _row(
    target: Target, grantee_type: str, grantee_id: str, capability: str, mode: str
) -> dict[str, object]:
    row: dict[str, object] = {
        "id": str(uuid.uuid4()),
        "site_id": target.site_id,
        "resource_type": target.resource_type,
        "resource_id": target.resource_id,
        "scope": target.scope,
        "grantee_type": grantee_type,
        "grantee_id": grantee_id,
        "capability": capability,
        "mode": mode,
        "project_id": None,
        "content_id": None,
        "view_id": None,
        "user_id": None,
        "group_id": None,
        "created_at": utcnow(),
    }
    row[_RESOURCE_COLUMN[target.resource_type]] = target.resource_id
    row[_GRANTEE_COLUMN[grantee_type]] = grantee_id
    return row


async def rules_of(conn: AsyncConnection, resource_id: str, scope: str = "") -> list[Rule]:
    """Every rule on a resource (or a project's defaults for ``scope``), grantee by grantee."""
    rows = await conn.execute(
        select(permission_rules)
        .where(permission_rules.c.resource_id == resource_id, permission_rules.c.scope == scope)
        .order_by(
            permission_rules.c.grantee_type,
            permission_rules.c.grantee_id,
            permission_rules.c.created_at,
            permission_rules.c.capability,
        )
    )
    return [Rule.from_row(r) for r in rows]


async def has_rules(conn: AsyncConnection, resource_id: str, scope: str = "") -> bool:
    row = await conn.execute(
        select(permission_rules.c.id)
        .where(permission_rules.c.resource_id == resource_id, permission_rules.c.scope == scope)
        .limit(1)
    )
    return row.first() is not None


async def put(
    conn: AsyncConnection,
    target: Target,
    grants: Iterable[tuple[str, str, str, str]],
) -> None:
    """Set ``(grantee_type, grantee_id, capability, mode)`` grants, replacing the other mode."""
    for grantee_type, grantee_id, capability, mode in grants:
        await conn.execute(
            delete(permission_rules).where(
                permission_rules.c.resource_id == target.resource_id,
                permission_rules.c.scope == target.scope,
                permission_rules.c.grantee_type == grantee_type,
                permission_rules.c.grantee_id == grantee_id,
                permission_rules.c.capability == capability,
            )
        )
        await conn.execute(
            insert(permission_rules).values(
                _row(target, grantee_type, grantee_id, capability, mode)
            )
        )


async def remove(
    conn: AsyncConnection,
    target: Target,
    grantee_type: str,
    grantee_id: str,
    capability: str,
    mode: str,
) -> bool:
    """Delete one rule; ``False`` if there was no such rule."""
    result = await conn.execute(
        delete(permission_rules).where(
            permission_rules.c.resource_id == target.resource_id,
            permission_rules.c.scope == target.scope,
            permission_rules.c.grantee_type == grantee_type,
            permission_rules.c.grantee_id == grantee_id,
            permission_rules.c.capability == capability,
            permission_rules.c.mode == mode,
        )
    )
    return result.rowcount > 0


async def copy(
    conn: AsyncConnection,
    source_id: str,
    source_scope: str,
    target: Target,
    *,
    leave_out: frozenset[str] = frozenset(),
) -> None:
    """Give ``target`` the rules of ``source`` (a resource or a project's defaults), but
    those of the capabilities in ``leave_out``."""
    rules = [
        r for r in await rules_of(conn, source_id, source_scope) if r.capability not in leave_out
    ]
    if rules:
        await conn.execute(
            insert(permission_rules),
            [_row(target, r.grantee_type, r.grantee_id, r.capability, r.mode) for r in rules],
        )


async def copy_project(
    conn: AsyncConnection, site_id: str, source_id: str, target_id: str, *, nested: bool
) -> None:
    """Give a new project every rule of ``source``: its own and all its default permissions.

    Args:
        nested: ``source`` is the new project's parent, whose project leaders lead it already
            (reported as InheritedProjectLeader), so their ProjectLeader is not copied.
    """
    rows = await conn.execute(
        select(permission_rules.c.scope)
        .where(permission_rules.c.resource_id == source_id)
        .distinct()
    )
    for scope in [r.scope for r in rows]:
        leave_out = frozenset({"ProjectLeader"}) if nested and scope == "" else frozenset()
        await copy(
            conn,
            source_id,
            scope,
            Target(site_id, "project", target_id, scope),
            leave_out=leave_out,
        )


async def for_grantees(
    conn: AsyncConnection,
    resource_ids: Sequence[str],
    user_id: str,
    group_ids: Iterable[str],
    *,
    scope: str | None = "",
) -> list[Rule]:
    """The rules on ``resource_ids`` that concern the user or one of their groups.

    Args:
        scope: one scope, or ``None`` for every scope (a project's own rules and defaults).
    """
    if not resource_ids:
        return []
    query = select(permission_rules).where(
        permission_rules.c.resource_id.in_(resource_ids), _concerns(user_id, group_ids)
    )
    if scope is not None:
        query = query.where(permission_rules.c.scope == scope)
    return [Rule.from_row(r) for r in await conn.execute(query)]


def _concerns(user_id: str, group_ids: Iterable[str]) -> ColumnElement[bool]:
    return or_(
        and_(permission_rules.c.grantee_type == "user", permission_rules.c.grantee_id == user_id),
        and_(
            permission_rules.c.grantee_type == "group",
            permission_rules.c.grantee_id.in_(list(group_ids)),
        ),
    )


def _rule_exists(
    resource: ColumnElement[Any], capability: str, mode: str, grantee: ColumnElement[bool]
) -> ColumnElement[bool]:
    return exists(
        select(permission_rules.c.id).where(
            permission_rules.c.resource_id == resource,
            permission_rules.c.scope == "",
            permission_rules.c.capability == capability,
            permission_rules.c.mode == mode,
            grantee,
        )
    )


def readable(
    resource: ColumnElement[Any], user_id: str, group_ids: Iterable[str], capability: str = "Read"
) -> ColumnElement[bool]:
    """SQL: the rules on ``resource`` (a column holding its id) allow ``capability``.

    Tableau's order, as :func:`tabhooks.services.permissions.decide` applies it in Python:
    the user's own rule decides if there is one; else any group's Deny denies; else any
    group's Allow allows; else nothing allows.
    """
    groups = list(group_ids)
    user = and_(permission_rules.c.grantee_type == "user", permission_rules.c.grantee_id == user_id)
    group = and_(
        permission_rules.c.grantee_type == "group", permission_rules.c.grantee_id.in_(groups)
    )
    return and_(
        not_(_rule_exists(resource, capability, "Deny", user)),
        or_(
            _rule_exists(resource, capability, "Allow", user),
            and_(
                not_(_rule_exists(resource, capability, "Deny", group)),
                _rule_exists(resource, capability, "Allow", group),
            ),
        ),
    )


def has_own_rules(resource: ColumnElement[Any]) -> ColumnElement[bool]:
    """SQL: the resource (a column holding its id) has rules of its own."""
    return exists(
        select(permission_rules.c.id).where(
            permission_rules.c.resource_id == resource, permission_rules.c.scope == ""
        )
    )


#: What "All Users" gets on a site's Default project, as on a new Tableau site: the Viewer
#: template for the project and for each content type's default permissions. New top-level
#: projects copy these, and new content copies its project's defaults, so every user keeps
#: seeing what is published unless someone changes the rules.
ALL_USERS_VIEWER: dict[str, tuple[str, ...]] = {
    "": ("Read",),
    "workbooks": ("Read", "Filter", "ViewComments", "AddComment", "ExportImage", "ExportData"),
    "datasources": ("Read", "Connect"),
    "flows": ("Read",),
}


async def seed_default_project(conn: AsyncConnection, site_id: str, project_id: str) -> None:
    """Give a site's new Default project (and the site its All Users group) Tableau's rules."""
    group_id = await groups_store.ensure_all_users(conn, site_id)
    for scope, capabilities in ALL_USERS_VIEWER.items():
        await put(
            conn,
            Target(site_id, "project", project_id, scope),
            [("group", group_id, capability, "Allow") for capability in capabilities],
        )


@dataclass(frozen=True, slots=True)
class ProjectNode:
    """What permission decisions need of a project: where it hangs, its lock, its owner."""

    id: str
    parent_id: str | None
    content_permissions: str
    owner_id: str | None


async def project_tree(conn: AsyncConnection, site_id: str) -> dict[str, ProjectNode]:
    rows = await conn.execute(
        select(
            projects.c.id, projects.c.parent_id, projects.c.content_permissions, projects.c.owner_id
        ).where(projects.c.site_id == site_id)
    )
    return {r.id: ProjectNode(r.id, r.parent_id, r.content_permissions, r.owner_id) for r in rows}
