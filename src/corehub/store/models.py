"""Tables: SQL is the record of every task and every change to it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    false,
    func,
    literal_column,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.elements import ColumnElement

from corehub.store.states import TaskStatus
from corehub.store.types import JSONType, UTCDateTime

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
EventId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class Task(Base):
    __tablename__ = "tasks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the Celery task id
    name: Mapped[str] = mapped_column(String(200))
    args: Mapped[list[Any]] = mapped_column(JSONType)
    kwargs: Mapped[dict[str, Any]] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(16))
    queue: Mapped[str] = mapped_column(String(100))
    priority: Mapped[str] = mapped_column(String(16), default="default")
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    backoff_base: Mapped[float | None] = mapped_column(Float)  # None: the task's default
    backoff_cap: Mapped[float | None] = mapped_column(Float)
    lease_token: Mapped[str | None] = mapped_column(String(36))
    worker: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    result: Mapped[Any | None] = mapped_column(JSONType)
    error_class: Mapped[str | None] = mapped_column(String(32))
    error_type: Mapped[str | None] = mapped_column(String(200))
    error_message: Mapped[str | None] = mapped_column(Text)
    error_traceback: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_hash: Mapped[str | None] = mapped_column(String(64))  # what the key stands for
    owner: Mapped[str | None] = mapped_column(String(200))
    parent_id: Mapped[str | None] = mapped_column(String(36))
    pipeline_run_id: Mapped[str | None] = mapped_column(String(36))
    step: Mapped[str | None] = mapped_column(String(100))  # its pipeline step
    # Time limits chosen at submit (a pipeline step's); None: the task's own.
    soft_time_limit: Mapped[float | None] = mapped_column(Float)
    time_limit: Mapped[float | None] = mapped_column(Float)
    # Flow control: a gated task waits in SQL until the leader admits it.
    rate_key: Mapped[str | None] = mapped_column(String(300))
    concurrency_key: Mapped[str | None] = mapped_column(String(300))
    needs: Mapped[list[str] | None] = mapped_column(JSONType)  # circuit breakers it needs
    gated: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    __table_args__ = (
        Index("ix_tasks_created", "created_at", "id"),
        Index("ix_tasks_name_created", "name", "created_at"),
    )


class TaskEvent(Base):
    __tablename__ = "task_events"

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    # No foreign key: its check cost a tenth of PostgreSQL's CPU per task (migration 0008).
    # Events are written only with their task's transition, and tasks are never deleted.
    task_id: Mapped[str] = mapped_column(String(36))
    type: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_task_events_task", "task_id", "id"),)


tasks_table = cast(Table, Task.__table__)
# One task per idempotency key and owner; tasks without an owner share one namespace.
Index(
    "uq_tasks_idempotency",
    func.coalesce(tasks_table.c.owner, ""),
    tasks_table.c.idempotency_key,
    unique=True,
    sqlite_where=text("idempotency_key IS NOT NULL"),
    postgresql_where=text("idempotency_key IS NOT NULL"),
)


def status_is(*states: TaskStatus) -> ColumnElement[bool]:
    """`status` against literal states: a partial index on a status is used only when the
    query states its predicate verbatim; a bound parameter would hide it from PostgreSQL's
    generic plans."""
    values: list[ColumnElement[str]] = [literal_column(f"'{state.value}'") for state in states]
    return (
        tasks_table.c.status.in_(values) if len(values) > 1 else tasks_table.c.status == values[0]
    )


# Partial indexes hold only the rows a sweep looks for. Every transition writes a new row
# version and each index of the table gets an entry for it unless its predicate excludes the
# row, so the hot path (insert, claim, finish) touches five indexes instead of ten.
WAITING_ROWS = status_is(TaskStatus.SCHEDULED, TaskStatus.RETRYING)
STARTED_ROWS = status_is(TaskStatus.STARTED)
UNPUBLISHED_ROWS = and_(status_is(TaskStatus.QUEUED), tasks_table.c.published_at.is_(None))
# Listings by status, newest first: the rows still to run, and those that ended without
# success. A listing of successes walks ix_tasks_created, as most rows are successes.
UNFINISHED = (TaskStatus.SCHEDULED, TaskStatus.QUEUED, TaskStatus.STARTED, TaskStatus.RETRYING)
UNSUCCESSFUL = (TaskStatus.FAILURE, TaskStatus.DEAD, TaskStatus.CANCELLED)
UNFINISHED_ROWS = status_is(*UNFINISHED)
UNSUCCESSFUL_ROWS = status_is(*UNSUCCESSFUL)


def _partial(name: str, where: ColumnElement[bool], *columns: Any) -> Index:
    return Index(name, *columns, sqlite_where=where, postgresql_where=where)


_partial("ix_tasks_waiting", WAITING_ROWS, tasks_table.c.gated, tasks_table.c.run_at)
_partial("ix_tasks_started_heartbeat", STARTED_ROWS, tasks_table.c.heartbeat_at)
_partial("ix_tasks_unpublished", UNPUBLISHED_ROWS, tasks_table.c.created_at)
_partial("ix_tasks_unfinished", UNFINISHED_ROWS, tasks_table.c.created_at, tasks_table.c.id)
_partial("ix_tasks_unsuccessful", UNSUCCESSFUL_ROWS, tasks_table.c.created_at, tasks_table.c.id)
_partial(
    "ix_tasks_concurrency",
    tasks_table.c.concurrency_key.is_not(None),
    tasks_table.c.concurrency_key,
    tasks_table.c.status,
)
_partial(
    "ix_tasks_pipeline_run",
    tasks_table.c.pipeline_run_id.is_not(None),
    tasks_table.c.pipeline_run_id,
)
events_table = cast(Table, TaskEvent.__table__)
# What a TaskRecord holds: every column but the lease token, which stays inside the store.
TASK_COLUMNS = [c for c in tasks_table.c if c.name != "lease_token"]


class LeaderLease(Base):
    """Who leads a role (the scheduler), until when, and under which epoch."""

    __tablename__ = "leader_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(200))
    epoch: Mapped[int] = mapped_column(BigInteger, default=0)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    renewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


leases_table = cast(Table, LeaderLease.__table__)


class TaskEffect(Base):
    """An external effect a task performed, by a key stable across its attempts."""

    __tablename__ = "task_effects"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


effects_table = cast(Table, TaskEffect.__table__)


class PipelineDefinition(Base):
    """A pipeline defined through the API (code-defined ones live in the registry)."""

    __tablename__ = "pipeline_definitions"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PipelineRun(Base):
    __tablename__ = "pipeline_runs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    pipeline: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))  # received|running|completed|failed|cancelled
    state: Mapped[str] = mapped_column(String(32))  # as the pipeline names its stages
    failure_policy: Mapped[str] = mapped_column(String(16))
    input: Mapped[dict[str, Any]] = mapped_column(JSONType)
    event_id: Mapped[str | None] = mapped_column(String(36))
    owner: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
    reruns: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_pipeline_runs_created", "created_at", "id"),
        Index("ix_pipeline_runs_status", "status", "created_at"),
    )


class PipelineStep(Base):
    __tablename__ = "pipeline_steps"

    run_id: Mapped[str] = mapped_column(
        ForeignKey("pipeline_runs.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    task_name: Mapped[str] = mapped_column(String(200))
    parents: Mapped[list[str]] = mapped_column(JSONType)
    kwargs: Mapped[dict[str, Any]] = mapped_column(JSONType)
    options: Mapped[dict[str, Any]] = mapped_column(JSONType)
    label: Mapped[str | None] = mapped_column(String(32))
    # pending|queued|running|success|failed|skipped|cancelled
    status: Mapped[str] = mapped_column(String(16))
    task_id: Mapped[str | None] = mapped_column(String(36))
    releases: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_pipeline_steps_status", "status"),)


class PipelineEvent(Base):
    __tablename__ = "pipeline_events"

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("pipeline_runs.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(32))
    step: Mapped[str | None] = mapped_column(String(100))
    from_status: Mapped[str | None] = mapped_column(String(32))
    to_status: Mapped[str | None] = mapped_column(String(32))
    message: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_pipeline_events_run", "run_id", "id"),)


definitions_table = cast(Table, PipelineDefinition.__table__)
runs_table = cast(Table, PipelineRun.__table__)
steps_table = cast(Table, PipelineStep.__table__)
pipeline_events_table = cast(Table, PipelineEvent.__table__)


class InboundEvent(Base):
    """An external event, normalised; one row per (source, delivery id)."""

    __tablename__ = "inbound_events"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    delivery_id: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str | None] = mapped_column(String(300))
    payload: Mapped[Any] = mapped_column(JSONType)
    runs: Mapped[list[str]] = mapped_column(JSONType)  # pipeline runs it started
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("source", "delivery_id", name="uq_inbound_events_delivery"),
        Index("ix_inbound_events_received", "received_at", "id"),
    )


inbound_events_table = cast(Table, InboundEvent.__table__)


class Schedule(Base):
    """A periodic task: every N seconds or a cron expression in a time zone."""

    __tablename__ = "schedules"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    task_name: Mapped[str] = mapped_column(String(200))
    args: Mapped[list[Any]] = mapped_column(JSONType)
    kwargs: Mapped[dict[str, Any]] = mapped_column(JSONType)
    every_seconds: Mapped[float | None] = mapped_column(Float)
    cron: Mapped[str | None] = mapped_column(String(120))
    timezone: Mapped[str] = mapped_column(String(64))
    misfire: Mapped[str] = mapped_column(String(16))  # skip|run_once
    queue: Mapped[str | None] = mapped_column(String(100))
    priority: Mapped[str | None] = mapped_column(String(16))
    paused: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    source: Mapped[str] = mapped_column(String(16))  # config|api
    next_fire_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_fire_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_schedules_due", "paused", "next_fire_at"),)


class ScheduleFire(Base):
    """One slot of a schedule, fired once: the primary key is the exactly-once guarantee."""

    __tablename__ = "schedule_fires"

    schedule: Mapped[str] = mapped_column(String(200), primary_key=True)
    fire_at: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    task_id: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


schedules_table = cast(Table, Schedule.__table__)
schedule_fires_table = cast(Table, ScheduleFire.__table__)


class RateBucket(Base):
    """A token bucket shared by every worker: tokens left as of `updated_at`."""

    __tablename__ = "rate_buckets"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CircuitBreaker(Base):
    """A named dependency's breaker: closed, open (until `open_until`) or half_open."""

    __tablename__ = "circuit_breakers"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    window_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    open_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    probe_task_id: Mapped[str | None] = mapped_column(String(36))
    total_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    total_successes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    times_opened: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


rate_buckets_table = cast(Table, RateBucket.__table__)
breakers_table = cast(Table, CircuitBreaker.__table__)
