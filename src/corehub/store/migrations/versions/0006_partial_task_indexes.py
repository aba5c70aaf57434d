"""partial indexes on tasks: only the rows each sweep looks for

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24

Every transition writes a new row version, and each index without a predicate that excludes
the row gets an entry for it. The sweeps (due, stale, unpublished, concurrency, pipeline)
look for a small slice of the table, so their indexes now hold only that slice.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

WAITING = "status IN ('scheduled', 'retrying')"
STARTED = "status = 'started'"
UNPUBLISHED = "status = 'queued' AND published_at IS NULL"

IndexSpec = tuple[str, list[str], str | None]

NEW: list[IndexSpec] = [
    ("ix_tasks_waiting", ["gated", "run_at"], WAITING),
    ("ix_tasks_started_heartbeat", ["heartbeat_at"], STARTED),
    ("ix_tasks_unpublished", ["created_at"], UNPUBLISHED),
    ("ix_tasks_concurrency", ["concurrency_key", "status"], "concurrency_key IS NOT NULL"),
    ("ix_tasks_pipeline_run", ["pipeline_run_id"], "pipeline_run_id IS NOT NULL"),
]
OLD: list[IndexSpec] = [
    ("ix_tasks_status_heartbeat", ["status", "heartbeat_at"], None),
    ("ix_tasks_status_run_at", ["status", "run_at"], None),
    ("ix_tasks_due", ["status", "gated", "run_at"], None),
    ("ix_tasks_concurrency", ["concurrency_key", "status"], None),
    ("ix_tasks_pipeline_run", ["pipeline_run_id"], None),
    ("ix_tasks_unpublished", ["created_at"], "published_at IS NULL"),
]


def _swap(drop: list[IndexSpec], create: list[IndexSpec]) -> None:
    for name, _, _ in drop:
        op.drop_index(name, table_name="tasks")
    for name, columns, where in create:
        predicate = sa.text(where) if where else None
        op.create_index(name, "tasks", columns, sqlite_where=predicate, postgresql_where=predicate)


def upgrade() -> None:
    _swap(OLD, NEW)


def downgrade() -> None:
    _swap(NEW, OLD)
