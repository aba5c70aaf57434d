"""Plain values that cross the store's boundary: no session, no lazy loading."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Row

from corehub.ids import random_uuid
from corehub.store.states import ErrorClass, TaskStatus


def new_task_id() -> str:
    return random_uuid()


# NewTask and TaskRecord are built once per task on every submit, so they are not frozen: a
# frozen dataclass sets each field through object.__setattr__, and with their 24 and 37
# fields that took 6 and 8 µs a record against 2.5 and 1.8: about 10 µs of the API's
# 130-290 µs of CPU per task of a bulk submit. Nothing changes them after they are built;
# copies are made with `replace`.


@dataclass(slots=True)
class NewTask:
    """A task about to be accepted."""

    name: str
    queue: str
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=new_task_id)
    priority: str = "default"
    max_attempts: int = 3
    backoff_base: float | None = None
    backoff_cap: float | None = None
    idempotency_key: str | None = None
    owner: str | None = None
    parent_id: str | None = None
    pipeline_run_id: str | None = None
    step: str | None = None
    soft_time_limit: float | None = None
    time_limit: float | None = None
    request_hash: str | None = None
    run_at: datetime | None = None  # not before this (database clock); None: due now
    rate_key: str | None = None
    concurrency_key: str | None = None
    needs: list[str] | None = None
    gated: bool = False  # flow control applies: the leader admits it

    @property
    def waits(self) -> bool:
        """Accepted as `scheduled` (held in SQL) rather than `queued` (published now)."""
        return self.gated or self.run_at is not None


@dataclass(slots=True)
class TaskRecord:
    id: str
    name: str
    args: list[Any]
    kwargs: dict[str, Any]
    status: TaskStatus
    queue: str
    priority: str
    attempt: int
    max_attempts: int
    backoff_base: float | None
    backoff_cap: float | None
    worker: str | None
    heartbeat_at: datetime | None
    run_at: datetime | None
    published_at: datetime | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    result: Any
    error_class: str | None
    error_type: str | None
    error_message: str | None
    error_traceback: str | None
    idempotency_key: str | None
    owner: str | None
    parent_id: str | None
    pipeline_run_id: str | None
    request_hash: str | None
    step: str | None
    soft_time_limit: float | None
    time_limit: float | None
    rate_key: str | None
    concurrency_key: str | None
    needs: list[str] | None
    gated: bool

    @classmethod
    def from_row(cls, row: Row[Any]) -> TaskRecord:
        values = row._asdict()
        values.pop("lease_token", None)
        values["status"] = TaskStatus(values["status"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class EventRecord:
    id: int
    task_id: str
    type: str
    from_status: str | None
    to_status: str | None
    attempt: int
    message: str | None
    data: dict[str, Any] | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: Row[Any]) -> EventRecord:
        return cls(**row._asdict())


@dataclass(frozen=True, slots=True)
class Lease:
    """Proof that an attempt holds a task; finishing needs it."""

    task_id: str
    token: str
    attempt: int
    max_attempts: int = 1
    backoff_base: float | None = None
    backoff_cap: float | None = None
    pipeline_run_id: str | None = None  # a pipeline step: its finish releases the next ones
    step: str | None = None

    @property
    def last(self) -> bool:
        return self.attempt >= self.max_attempts


@dataclass(frozen=True, slots=True)
class Outcome:
    """How an attempt ended, as the engine reports it."""

    status: TaskStatus
    result: Any = None
    error_class: ErrorClass | None = None
    error_type: str | None = None
    error_message: str | None = None
    error_traceback: str | None = None
    retry_in: float | None = None  # seconds; only with status RETRYING


@dataclass(frozen=True, slots=True)
class TaskFilter:
    statuses: tuple[TaskStatus, ...] = ()
    name: str | None = None
    created_since: datetime | None = None
    created_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Page:
    items: list[TaskRecord]
    next_cursor: str | None
