"""listing tasks by status: partial indexes instead of (status, created_at)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24

A claim wrote its new row version into (status, created_at) under ('started', t), where
every earlier attempt of tasks created at t left an entry until vacuum. On PostgreSQL that
index alone made a claim cost 0.69 ms instead of 0.39 ms. Listings by status now use
(created_at, id) over the rows still to run or those that ended without success; a
listing of successes walks (created_at, id) itself, as most rows are successes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

UNFINISHED = "status IN ('scheduled', 'queued', 'started', 'retrying')"
UNSUCCESSFUL = "status IN ('failure', 'dead', 'cancelled')"


def upgrade() -> None:
    op.drop_index("ix_tasks_status_created", table_name="tasks")
    for name, where in (
        ("ix_tasks_unfinished", UNFINISHED),
        ("ix_tasks_unsuccessful", UNSUCCESSFUL),
    ):
        predicate = sa.text(where)
        op.create_index(
            name, "tasks", ["created_at", "id"], sqlite_where=predicate, postgresql_where=predicate
        )


def downgrade() -> None:
    op.drop_index("ix_tasks_unsuccessful", table_name="tasks")
    op.drop_index("ix_tasks_unfinished", table_name="tasks")
    op.create_index("ix_tasks_status_created", "tasks", ["status", "created_at"])
