"""relay: where a route's enrichment looks resources up (profile, or server and PAT)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 10:02:41.530918
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("relay_routes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("enrich_profile", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("enrich_server", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("enrich_site", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("enrich_pat_name", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("enrich_pat_secret", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("relay_routes", schema=None) as batch_op:
        batch_op.drop_column("enrich_pat_secret")
        batch_op.drop_column("enrich_pat_name")
        batch_op.drop_column("enrich_site")
        batch_op.drop_column("enrich_server")
        batch_op.drop_column("enrich_profile")
