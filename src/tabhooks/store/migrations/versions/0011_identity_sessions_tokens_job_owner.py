"""identity: per-site last login, the PAT a session signed in with, who queued a job

``site_users.last_login`` starts empty: the old server-wide time would tell a site's admins
when a user signed in to another site. ``sessions.pat_id`` lets revoking a personal access
token end the sessions opened with it; ``jobs.owner_id`` lets the one who queued a job cancel
it (jobs queued before this have none, so only administrators can cancel them).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tabhooks.store.tables

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("site_users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("last_login", tabhooks.store.tables.UTCDateTime(), nullable=True)
        )
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pat_id", sa.String(length=36), nullable=True))
        batch_op.create_index(batch_op.f("ix_sessions_pat_id"), ["pat_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_sessions_pat_id_personal_access_tokens"),
            "personal_access_tokens",
            ["pat_id"],
            ["id"],
            ondelete="CASCADE",
        )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_id", sa.String(length=36), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_jobs_owner_id_users"), "users", ["owner_id"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_jobs_owner_id_users"), type_="foreignkey")
        batch_op.drop_column("owner_id")
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_sessions_pat_id_personal_access_tokens"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_sessions_pat_id"))
        batch_op.drop_column("pat_id")
    with op.batch_alter_table("site_users", schema=None) as batch_op:
        batch_op.drop_column("last_login")
