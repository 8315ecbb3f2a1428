"""jobs: the lease token of the claim running a job

A job's lease is renewed while it runs, and its outcome is recorded only by the claim that
holds it: ``jobs.lease_token`` names that claim, so a runner whose lease was lost (taken over
after a pause, or the job cancelled) can neither renew nor finish it.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_token", sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("lease_token")
