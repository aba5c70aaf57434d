"""The HTTP contract's bodies, shared by the API (which serves them) and the client."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# Mirrors corehub.store.states.TERMINAL (a test keeps them equal) so the client stays light.
TERMINAL_STATUSES = frozenset({"success", "failure", "dead", "cancelled"})


class RunTaskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task_name: str = Field(min_length=1, max_length=200, examples=["echo_bot.echo"])
    kwargs: dict[str, Any] = Field(default_factory=dict, examples=[{"text": "hello"}])
    args: list[Any] = Field(default_factory=list)
    queue: str | None = Field(None, max_length=100)
    priority: str | None = Field(
        None, description="a configured priority name (`high`, `default`, `low`)"
    )
    max_attempts: int | None = Field(None, ge=1, le=1000)
    backoff_base: float | None = Field(
        None,
        gt=0,
        le=86400,
        description="first retry's ceiling in seconds (full jitter); the task's default",
    )
    backoff_cap: float | None = Field(None, gt=0, le=86400, description="largest retry delay")
    idempotency_key: str | None = Field(None, max_length=200)


class BulkRunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tasks: list[RunTaskRequest] = Field(min_length=1, max_length=10_000)


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    terminate: bool = Field(
        False, description="also kill a running attempt (prefork pools); its outcome is dropped"
    )


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kwargs: dict[str, Any] | None = Field(None, description="replace the original's kwargs")


class BulkReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: list[str] = Field(default_factory=lambda: ["dead"])
    task_name: str | None = None
    created_since: datetime | None = None
    created_until: datetime | None = None
    limit: int = Field(100, ge=1, le=1000)
    kwargs: dict[str, Any] | None = None


class ReplayResponse(BaseModel):
    task_ids: list[str] = Field(description="the new tasks")
    replayed: list[str] = Field(description="the tasks they replay, in the same order")


class TaskError(BaseModel):
    error_class: str | None
    type: str | None
    message: str | None
    traceback: str | None = None


class TaskView(BaseModel):
    task_id: str
    task_name: str
    status: str = Field(
        description="scheduled | queued (pending) | started | retrying | success | failure | "
        "dead | cancelled"
    )
    result: Any = None
    error: str | None = Field(None, description="the error message of a failed task")
    error_detail: TaskError | None = None
    args: list[Any]
    kwargs: dict[str, Any]
    queue: str
    priority: str
    attempt: int
    max_attempts: int
    worker: str | None
    parent_id: str | None = Field(None, description="the task this one replays")
    run_at: datetime | None = Field(None, description="when a waiting retry is due")
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    updated_at: datetime


class TaskPage(BaseModel):
    items: list[TaskView]
    next_cursor: str | None = Field(None, description="pass as `cursor` for the next page")


class BulkRunResponse(BaseModel):
    task_ids: list[str]


class EventView(BaseModel):
    id: int
    task_id: str
    type: str
    from_status: str | None
    to_status: str | None
    attempt: int
    message: str | None
    data: dict[str, Any] | None
    created_at: datetime


class ParameterView(BaseModel):
    name: str
    kind: str
    annotation: str | None
    required: bool
    default: Any = None


class TaskInfo(BaseModel):
    name: str
    module: str
    task: str
    description: str
    parameters: list[ParameterView]
    queue: str | None
    priority: str | None
    max_attempts: int | None
    soft_time_limit: float | None
    time_limit: float | None
    backoff_base: float
    backoff_cap: float
    retry_on: list[str]
    dont_retry_on: list[str]


class ModuleView(BaseModel):
    name: str
    version: str
    description: str
    source: str
    config: dict[str, Any]
    heartbeat: dict[str, Any]
    tasks: list[TaskInfo]


class Ping(BaseModel):
    status: str = "ok"
    version: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
