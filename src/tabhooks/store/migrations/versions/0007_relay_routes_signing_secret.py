"""relay: a Standard Webhooks signing secret per route (signs http targets)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 09:12:03.417215
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("relay_routes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("signing_secret", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("relay_routes", schema=None) as batch_op:
        batch_op.drop_column("signing_secret")
