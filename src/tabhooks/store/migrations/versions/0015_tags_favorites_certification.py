"""tags, favorites, and the certification of data sources

Tags of workbooks, data sources, flows and views (Add / Delete Tags, filtering by ``tags``);
a user's favorites on a site (workbooks, views, data sources, flows, projects), which go with
the item or with the user's membership of the site; and ``contents.is_certified`` /
``certification_note`` for Update Data Source.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tabhooks.store.tables

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contents", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("is_certified", sa.Boolean(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("certification_note", sa.Text(), nullable=True))

    op.create_table(
        "tags",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("site_id", sa.String(length=36), nullable=False),
        sa.Column("content_id", sa.String(length=36), nullable=True),
        sa.Column("view_id", sa.String(length=36), nullable=True),
        sa.Column("label", sa.String(length=255), nullable=False),
        sa.Column("created_at", tabhooks.store.tables.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["content_id"],
            ["contents.id"],
            name=op.f("fk_tags_content_id_contents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_tags_site_id_sites"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["view_id"], ["views.id"], name=op.f("fk_tags_view_id_views"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tags")),
        sa.UniqueConstraint("content_id", "label", name=op.f("uq_tags_content_id_label")),
        sa.UniqueConstraint("view_id", "label", name=op.f("uq_tags_view_id_label")),
    )
    with op.batch_alter_table("tags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tags_site_id_label"), ["site_id", "label"])

    op.create_table(
        "favorites",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("site_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("label", sa.String(length=255), nullable=False),
        sa.Column("content_id", sa.String(length=36), nullable=True),
        sa.Column("view_id", sa.String(length=36), nullable=True),
        sa.Column("project_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", tabhooks.store.tables.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["content_id"],
            ["contents.id"],
            name=op.f("fk_favorites_content_id_contents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_favorites_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["site_id", "user_id"],
            ["site_users.site_id", "site_users.user_id"],
            name=op.f("fk_favorites_site_id_site_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["view_id"], ["views.id"], name=op.f("fk_favorites_view_id_views"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_favorites")),
        sa.UniqueConstraint(
            "site_id", "user_id", "content_id", name=op.f("uq_favorites_site_id_user_id_content_id")
        ),
        sa.UniqueConstraint(
            "site_id", "user_id", "project_id", name=op.f("uq_favorites_site_id_user_id_project_id")
        ),
        sa.UniqueConstraint(
            "site_id", "user_id", "view_id", name=op.f("uq_favorites_site_id_user_id_view_id")
        ),
    )
    with op.batch_alter_table("favorites", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_favorites_content_id"), ["content_id"])
        batch_op.create_index(batch_op.f("ix_favorites_project_id"), ["project_id"])
        batch_op.create_index(batch_op.f("ix_favorites_view_id"), ["view_id"])


def downgrade() -> None:
    with op.batch_alter_table("favorites", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_favorites_view_id"))
        batch_op.drop_index(batch_op.f("ix_favorites_project_id"))
        batch_op.drop_index(batch_op.f("ix_favorites_content_id"))
    op.drop_table("favorites")
    with op.batch_alter_table("tags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tags_site_id_label"))
    op.drop_table("tags")
    with op.batch_alter_table("contents", schema=None) as batch_op:
        batch_op.drop_column("certification_note")
        batch_op.drop_column("is_certified")
