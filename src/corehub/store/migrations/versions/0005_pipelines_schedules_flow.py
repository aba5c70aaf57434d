"""pipelines, inbound events, periodic schedules, flow control; named priorities

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from corehub.store.models import EventId
from corehub.store.types import JSONType, UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.alter_column(
            "priority",
            type_=sa.String(16),
            existing_type=sa.Integer,
            postgresql_using="'default'",
        )
        batch.add_column(sa.Column("step", sa.String(100)))
        batch.add_column(sa.Column("soft_time_limit", sa.Float))
        batch.add_column(sa.Column("time_limit", sa.Float))
        batch.add_column(sa.Column("rate_key", sa.String(300)))
        batch.add_column(sa.Column("concurrency_key", sa.String(300)))
        batch.add_column(sa.Column("needs", JSONType))
        batch.add_column(sa.Column("gated", sa.Boolean, nullable=False, server_default=sa.false()))
    op.execute("UPDATE tasks SET priority = 'default'")
    if op.get_bind().dialect.name == "sqlite":
        # Changing a column's type rebuilt the table, which drops expression indexes.
        op.execute("DROP INDEX IF EXISTS uq_tasks_idempotency")
        op.create_index(
            "uq_tasks_idempotency",
            "tasks",
            [sa.text("coalesce(owner, '')"), "idempotency_key"],
            unique=True,
            sqlite_where=sa.text("idempotency_key IS NOT NULL"),
        )
    op.create_index("ix_tasks_due", "tasks", ["status", "gated", "run_at"])
    op.create_index("ix_tasks_concurrency", "tasks", ["concurrency_key", "status"])
    op.create_index("ix_tasks_pipeline_run", "tasks", ["pipeline_run_id"])

    op.create_table(
        "pipeline_definitions",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("spec", JSONType, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "pipeline_runs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("pipeline", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("failure_policy", sa.String(16), nullable=False),
        sa.Column("input", JSONType, nullable=False),
        sa.Column("event_id", sa.String(36)),
        sa.Column("owner", sa.String(200)),
        sa.Column("error", sa.Text),
        sa.Column("reruns", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("started_at", UTCDateTime),
        sa.Column("finished_at", UTCDateTime),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_pipeline_runs_created", "pipeline_runs", ["created_at", "id"])
    op.create_index("ix_pipeline_runs_status", "pipeline_runs", ["status", "created_at"])
    op.create_table(
        "pipeline_steps",
        sa.Column(
            "run_id",
            sa.String(36),
            sa.ForeignKey("pipeline_runs.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("task_name", sa.String(200), nullable=False),
        sa.Column("parents", JSONType, nullable=False),
        sa.Column("kwargs", JSONType, nullable=False),
        sa.Column("options", JSONType, nullable=False),
        sa.Column("label", sa.String(32)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("task_id", sa.String(36)),
        sa.Column("releases", sa.Integer, nullable=False, server_default="0"),
        sa.Column("released_at", UTCDateTime),
        sa.Column("started_at", UTCDateTime),
        sa.Column("finished_at", UTCDateTime),
        sa.Column("error", sa.Text),
    )
    op.create_index("ix_pipeline_steps_status", "pipeline_steps", ["status"])
    op.create_table(
        "pipeline_events",
        sa.Column("id", EventId, primary_key=True, autoincrement=True),
        sa.Column(
            "run_id",
            sa.String(36),
            sa.ForeignKey("pipeline_runs.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("step", sa.String(100)),
        sa.Column("from_status", sa.String(32)),
        sa.Column("to_status", sa.String(32)),
        sa.Column("message", sa.Text),
        sa.Column("data", JSONType),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_pipeline_events_run", "pipeline_events", ["run_id", "id"])

    op.create_table(
        "inbound_events",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("delivery_id", sa.String(200), nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("subject", sa.String(300)),
        sa.Column("payload", JSONType, nullable=False),
        sa.Column("runs", JSONType, nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("source", "delivery_id", name="uq_inbound_events_delivery"),
    )
    op.create_index("ix_inbound_events_received", "inbound_events", ["received_at", "id"])

    op.create_table(
        "schedules",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("task_name", sa.String(200), nullable=False),
        sa.Column("args", JSONType, nullable=False),
        sa.Column("kwargs", JSONType, nullable=False),
        sa.Column("every_seconds", sa.Float),
        sa.Column("cron", sa.String(120)),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("misfire", sa.String(16), nullable=False),
        sa.Column("queue", sa.String(100)),
        sa.Column("priority", sa.String(16)),
        sa.Column("paused", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("next_fire_at", UTCDateTime, nullable=False),
        sa.Column("last_fire_at", UTCDateTime),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_schedules_due", "schedules", ["paused", "next_fire_at"])
    op.create_table(
        "schedule_fires",
        sa.Column("schedule", sa.String(200), primary_key=True),
        sa.Column("fire_at", UTCDateTime, primary_key=True),
        sa.Column("task_id", sa.String(36), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )

    op.create_table(
        "rate_buckets",
        sa.Column("key", sa.String(300), primary_key=True),
        sa.Column("tokens", sa.Float, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "circuit_breakers",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("window_started_at", UTCDateTime),
        sa.Column("opened_at", UTCDateTime),
        sa.Column("open_until", UTCDateTime),
        sa.Column("probe_task_id", sa.String(36)),
        sa.Column("total_failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("total_successes", sa.Integer, nullable=False, server_default="0"),
        sa.Column("times_opened", sa.Integer, nullable=False, server_default="0"),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "circuit_breakers",
        "rate_buckets",
        "schedule_fires",
        "schedules",
        "inbound_events",
        "pipeline_events",
        "pipeline_steps",
        "pipeline_runs",
        "pipeline_definitions",
    ):
        op.drop_table(table)
    op.drop_index("ix_tasks_pipeline_run", "tasks")
    op.drop_index("ix_tasks_concurrency", "tasks")
    op.drop_index("ix_tasks_due", "tasks")
    with op.batch_alter_table("tasks") as batch:
        for column in (
            "gated",
            "needs",
            "concurrency_key",
            "rate_key",
            "time_limit",
            "soft_time_limit",
            "step",
        ):
            batch.drop_column(column)
        batch.alter_column(
            "priority", type_=sa.Integer, existing_type=sa.String(16), postgresql_using="0"
        )
