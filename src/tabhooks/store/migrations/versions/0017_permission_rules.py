"""permission rules: capabilities allowed or denied to users and groups, and project defaults

Before this, every user of a site saw everything published on it. So that nothing disappears,
every existing project grants its site's All Users group Tableau's Viewer template (the
project's Read, and default permissions for workbooks, data sources and flows), and every
existing workbook, data source and flow gets the rules its project's defaults now give new
content. (A new site's Default project gets the same; see ``store.permissions``.)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 14:30:00.000000
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import tabhooks.store.tables

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

#: store.permissions.ALL_USERS_VIEWER as it was when this migration was written.
_VIEWER = {
    "": ("Read",),
    "workbooks": ("Read", "Filter", "ViewComments", "AddComment", "ExportImage", "ExportData"),
    "datasources": ("Read", "Connect"),
    "flows": ("Read",),
}


def upgrade() -> None:
    rules = op.create_table(
        "permission_rules",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("site_id", sa.String(length=36), nullable=False),
        sa.Column("resource_type", sa.String(length=16), nullable=False),
        sa.Column("resource_id", sa.String(length=36), nullable=False),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("grantee_type", sa.String(length=8), nullable=False),
        sa.Column("grantee_id", sa.String(length=36), nullable=False),
        sa.Column("capability", sa.String(length=40), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=True),
        sa.Column("content_id", sa.String(length=36), nullable=True),
        sa.Column("view_id", sa.String(length=36), nullable=True),
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("group_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", tabhooks.store.tables.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["content_id"],
            ["contents.id"],
            name=op.f("fk_permission_rules_content_id_contents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["groups.id"],
            name=op.f("fk_permission_rules_group_id_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_permission_rules_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["site_id", "user_id"],
            ["site_users.site_id", "site_users.user_id"],
            name=op.f("fk_permission_rules_site_id_site_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_permission_rules_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["view_id"],
            ["views.id"],
            name=op.f("fk_permission_rules_view_id_views"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_permission_rules")),
        sa.UniqueConstraint(
            "resource_id",
            "scope",
            "grantee_type",
            "grantee_id",
            "capability",
            name="uq_permission_rules_grant",
        ),
    )
    with op.batch_alter_table("permission_rules", schema=None) as batch_op:
        for column in ("project_id", "content_id", "view_id", "user_id", "group_id"):
            batch_op.create_index(batch_op.f(f"ix_permission_rules_{column}"), [column])
    _grant_all_users_what_they_saw(rules)


def _grant_all_users_what_they_saw(rules: sa.Table) -> None:
    bind = op.get_bind()
    now = datetime.now(UTC).replace(microsecond=0, tzinfo=None)
    groups = sa.table(
        "groups", sa.column("id", sa.String), sa.column("site_id", sa.String),
        sa.column("all_users", sa.Boolean),
    )  # fmt: skip
    projects = sa.table("projects", sa.column("id", sa.String), sa.column("site_id", sa.String))
    contents = sa.table(
        "contents", sa.column("id", sa.String), sa.column("site_id", sa.String),
        sa.column("kind", sa.String),
    )  # fmt: skip
    everyone = {
        r.site_id: r.id
        for r in bind.execute(
            sa.select(groups.c.id, groups.c.site_id).where(groups.c.all_users.is_(True))
        )
    }

    def row(
        site_id: str, kind: str, resource_id: str, scope: str, capability: str
    ) -> dict[str, object]:
        return {
            "id": str(uuid.uuid4()),
            "site_id": site_id,
            "resource_type": kind,
            "resource_id": resource_id,
            "scope": scope,
            "grantee_type": "group",
            "grantee_id": everyone[site_id],
            "capability": capability,
            "mode": "Allow",
            "project_id": resource_id if kind == "project" else None,
            "content_id": None if kind == "project" else resource_id,
            "view_id": None,
            "user_id": None,
            "group_id": everyone[site_id],
            "created_at": now,
        }

    out = []
    for project in bind.execute(sa.select(projects.c.id, projects.c.site_id)):
        if project.site_id in everyone:
            for scope, capabilities in _VIEWER.items():
                out += [row(project.site_id, "project", project.id, scope, c) for c in capabilities]
    for content in bind.execute(sa.select(contents.c.id, contents.c.site_id, contents.c.kind)):
        if content.site_id in everyone:
            capabilities = _VIEWER[f"{content.kind}s"]
            out += [row(content.site_id, content.kind, content.id, "", c) for c in capabilities]
    if out:
        op.bulk_insert(rules, out)


def downgrade() -> None:
    with op.batch_alter_table("permission_rules", schema=None) as batch_op:
        for column in ("project_id", "content_id", "view_id", "user_id", "group_id"):
            batch_op.drop_index(batch_op.f(f"ix_permission_rules_{column}"))
    op.drop_table("permission_rules")
