"""Plain values for pipeline runs that cross the store's boundary."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Row

from corehub.store.records import new_task_id


@dataclass(frozen=True, slots=True)
class NewStep:
    """A step about to be stored. `task` holds the `NewTask` fields its task will get when
    released (queue, priority, attempts, limits, flow control), resolved when the run was
    planned, so that releasing needs no registry."""

    name: str
    task_name: str
    parents: list[str] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    task: dict[str, Any] = field(default_factory=dict)
    label: str | None = None


@dataclass(frozen=True, slots=True)
class NewRun:
    pipeline: str
    steps: list[NewStep]
    input: dict[str, Any] = field(default_factory=dict)
    failure_policy: str = "fail_fast"
    id: str = field(default_factory=new_task_id)
    event_id: str | None = None
    owner: str | None = None


@dataclass(frozen=True, slots=True)
class StepRecord:
    name: str
    position: int
    task_name: str
    parents: list[str]
    label: str | None
    status: str
    task_id: str | None
    releases: int
    released_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    attempt: int = 0  # of its current task
    task_status: str | None = None
    result: Any = None


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: str
    pipeline: str
    status: str
    state: str
    failure_policy: str
    input: dict[str, Any]
    event_id: str | None
    owner: str | None
    error: str | None
    reruns: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    steps: list[StepRecord] = field(default_factory=list)

    @classmethod
    def from_row(cls, row: Row[Any], steps: list[StepRecord] | None = None) -> RunRecord:
        return cls(**row._asdict(), steps=steps or [])


@dataclass(frozen=True, slots=True)
class PipelineEventRecord:
    id: int
    run_id: str
    type: str
    step: str | None
    from_status: str | None
    to_status: str | None
    message: str | None
    data: dict[str, Any] | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: Row[Any]) -> PipelineEventRecord:
        return cls(**row._asdict())


@dataclass(frozen=True, slots=True)
class RunPage:
    items: list[RunRecord]
    next_cursor: str | None
