"""deliveries: the destination of each delivery, and indexes of queued rows only

A dispatcher keeps one line per destination (scheme, host and port). With the destination on
the row it claims a line's next rows by that key, and its other claims skip the rows of
destinations whose line is full, instead of claiming rows only to hand them back. The claim
indexes now cover queued rows only (``status IN ('pending', 'delivering')``, written out
literally: a partial index serves only queries that repeat its condition), so a claim reads
due rows in order and stops at its limit, however much history the table holds. Rows queued
before this keep ``destination`` NULL until a claim fills it in.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_QUEUED = sa.text("status IN ('pending', 'delivering')")


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("destination", sa.Text(), nullable=True))
        batch_op.drop_index("ix_deliveries_status_next_attempt_at")
        batch_op.create_index(
            "ix_deliveries_next_attempt_at_destination",
            ["next_attempt_at", "destination"],
            unique=False,
            sqlite_where=_QUEUED,
            postgresql_where=_QUEUED,
        )
        batch_op.create_index(
            "ix_deliveries_destination_next_attempt_at",
            ["destination", "next_attempt_at"],
            unique=False,
            sqlite_where=_QUEUED,
            postgresql_where=_QUEUED,
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_destination_next_attempt_at")
        batch_op.drop_index("ix_deliveries_next_attempt_at_destination")
        batch_op.create_index(
            "ix_deliveries_status_next_attempt_at", ["status", "next_attempt_at"], unique=False
        )
        batch_op.drop_column("destination")
