"""events by resource: an index for the content pages' "events this item fired"

A content page (``/ui/content/...``) lists the latest events about one workbook, data source
or flow. Without an index on ``resource_luid`` that read scanned every event the site ever
fired, so a page slowed as the event log grew.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 10:50:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_events_resource_luid_created_at"), ["resource_luid", "created_at"]
        )


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_resource_luid_created_at"))
