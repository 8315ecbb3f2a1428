"""groups: a site's groups of users, its built-in All Users group, and group members

Every existing site gets its "All Users" group (``all_users`` true), which has no membership
rows: every user of the site is in it. Members of the other groups hang off the user's site
membership (a foreign key to ``site_users``), so a user removed from a site leaves its groups.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 14:00:00.000000
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import tabhooks.store.tables

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    groups = op.create_table(
        "groups",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("site_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("name_key", sa.String(length=255), nullable=False),
        sa.Column("minimum_site_role", sa.String(length=40), nullable=True),
        sa.Column("all_users", sa.Boolean(), nullable=False),
        sa.Column("created_at", tabhooks.store.tables.UTCDateTime(), nullable=False),
        sa.Column("updated_at", tabhooks.store.tables.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_groups_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_groups")),
        sa.UniqueConstraint("site_id", "name_key", name=op.f("uq_groups_site_id_name_key")),
    )
    op.create_table(
        "group_members",
        sa.Column("group_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("site_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", tabhooks.store.tables.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["groups.id"],
            name=op.f("fk_group_members_group_id_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["site_id", "user_id"],
            ["site_users.site_id", "site_users.user_id"],
            name=op.f("fk_group_members_site_id_site_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("group_id", "user_id", name=op.f("pk_group_members")),
    )
    with op.batch_alter_table("group_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_group_members_user_id"), ["user_id"], unique=False)
    # Every site already there gets its All Users group.
    now = datetime.now(UTC).replace(microsecond=0, tzinfo=None)
    sites = sa.table("sites", sa.column("id", sa.String))
    site_ids = [row.id for row in op.get_bind().execute(sa.select(sites.c.id))]
    if site_ids:
        op.bulk_insert(
            groups,
            [
                {
                    "id": str(uuid.uuid4()),
                    "site_id": site_id,
                    "name": "All Users",
                    "name_key": "all users",
                    "minimum_site_role": None,
                    "all_users": True,
                    "created_at": now,
                    "updated_at": now,
                }
                for site_id in site_ids
            ],
        )


def downgrade() -> None:
    with op.batch_alter_table("group_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_group_members_user_id"))
    op.drop_table("group_members")
    op.drop_table("groups")
