"""leader leases, and indexes for stale attempts and due retries

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from corehub.store.types import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leader_leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(200)),
        sa.Column("epoch", sa.BigInteger, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("renewed_at", UTCDateTime),
    )
    op.create_index("ix_tasks_status_heartbeat", "tasks", ["status", "heartbeat_at"])
    op.create_index("ix_tasks_status_run_at", "tasks", ["status", "run_at"])


def downgrade() -> None:
    op.drop_index("ix_tasks_status_run_at", "tasks")
    op.drop_index("ix_tasks_status_heartbeat", "tasks")
    op.drop_table("leader_leases")
