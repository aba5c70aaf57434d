"""idempotency keys unique per owner (no owner counts as one), request hashes, task effects

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from corehub.store.types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

KEYED = sa.text("idempotency_key IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_constraint("uq_tasks_owner_idempotency_key", type_="unique")
        batch.add_column(sa.Column("request_hash", sa.String(64)))
    op.create_index(
        "uq_tasks_idempotency",
        "tasks",
        [sa.text("coalesce(owner, '')"), "idempotency_key"],
        unique=True,
        sqlite_where=KEYED,
        postgresql_where=KEYED,
    )
    op.create_table(
        "task_effects",
        sa.Column("key", sa.String(400), primary_key=True),
        sa.Column("task_id", sa.String(36), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("task_effects")
    op.drop_index("uq_tasks_idempotency", "tasks")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("request_hash")
        batch.create_unique_constraint(
            "uq_tasks_owner_idempotency_key", ["owner", "idempotency_key"]
        )
