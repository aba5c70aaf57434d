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
    run_at: datetime | None = Field(
        None, description="not before this moment (ISO 8601 with a time zone); held in SQL"
    )
    countdown: float | None = Field(
        None, ge=0, description="not before this many seconds from now (the database's clock)"
    )


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
    pipeline_run_id: str | None = Field(None, description="the pipeline run of this step")
    step: str | None = Field(None, description="its step in that run")
    run_at: datetime | None = Field(None, description="when a scheduled task or retry is due")
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


class InboundEventView(BaseModel):
    """An external event as the hub stored it, with the pipeline runs it started."""

    id: str
    source: str
    delivery_id: str = Field(description="the sender's id of this delivery; replays share it")
    type: str = Field(description="the sender's event type (GitHub: the X-GitHub-Event header)")
    subject: str | None = Field(None, description="what it is about (GitHub: owner/repository)")
    payload: Any
    runs: list[str] = Field(description="ids of the pipeline runs it started")
    received_at: datetime


class BreakerView(BaseModel):
    """A circuit breaker shared by every worker: closed, open or half_open."""

    name: str
    state: str = Field(description="closed | open | half_open")
    failures_in_window: int
    failure_threshold: int
    window_seconds: float
    reset_seconds: float
    total_failures: int
    total_successes: int
    times_opened: int
    opened_at: datetime | None
    open_until: datetime | None = Field(
        None, description="open: when a probe may go; half_open: when a silent probe is replaced"
    )
    probe_task_id: str | None


class BucketView(BaseModel):
    key: str
    tokens: float = Field(description="tokens available now")


class RateLimitView(BaseModel):
    task_name: str
    rate: str
    buckets: list[BucketView]


class ConcurrencyLimitView(BaseModel):
    task_name: str
    limit: int
    running: dict[str, int] = Field(description="queued or started tasks per concurrency key")


class FlowLimits(BaseModel):
    rate_limits: list[RateLimitView]
    concurrency: list[ConcurrencyLimitView]


class ScheduleDefinition(BaseModel):
    """A periodic task: `every` seconds or a `cron` expression (exactly one)."""

    model_config = ConfigDict(extra="forbid")

    task_name: str = Field(min_length=1, max_length=200, examples=["core.health_check"])
    kwargs: dict[str, Any] = Field(default_factory=dict)
    args: list[Any] = Field(default_factory=list)
    every: float | None = Field(
        None,
        gt=0,
        le=315_360_000,  # ten years: config.settings.MAX_EVERY_SECONDS
        description="seconds between slots (from the epoch)",
    )
    cron: str | None = Field(None, max_length=120, examples=["0 9 * * mon-fri"])
    timezone: str = Field("UTC", max_length=64, description="the cron's time zone (IANA name)")
    misfire: str = Field(
        "skip", description="`skip` slots later than the grace, or `run_once` for all missed"
    )
    queue: str | None = Field(None, max_length=100)
    priority: str | None = None
    paused: bool = False


class CreateScheduleRequest(ScheduleDefinition):
    name: str = Field(min_length=1, max_length=200, examples=["reports.daily"])


class ScheduleView(BaseModel):
    name: str
    task_name: str
    kwargs: dict[str, Any]
    args: list[Any]
    every: float | None
    cron: str | None
    timezone: str
    misfire: str
    queue: str | None
    priority: str | None
    paused: bool
    source: str = Field(description="`config` (the config file owns it) or `api`")
    next_fire_at: datetime
    last_fire_at: datetime | None
    created_at: datetime
    updated_at: datetime


class PipelineStepDefinition(BaseModel):
    name: str
    task: str
    after: list[str] = Field(default_factory=list)
    kwargs: dict[str, Any] = Field(default_factory=dict)
    label: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)


class PipelineTrigger(BaseModel):
    source: str
    type: str = "*"


class PipelineView(BaseModel):
    name: str
    description: str
    failure_policy: str
    triggers: list[PipelineTrigger]
    steps: list[PipelineStepDefinition]
    source: str = Field(description="`code` (a module registered it) or `api`")


class RunPipelineRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: dict[str, Any] = Field(
        default_factory=dict, description="keyword arguments of the root steps"
    )


class PipelineStepView(BaseModel):
    name: str
    task_name: str
    parents: list[str]
    label: str | None
    status: str = Field(description="pending|queued|running|success|failed|skipped|cancelled")
    task_id: str | None
    task_status: str | None
    attempt: int
    releases: int = Field(description="how many times the step was released (reruns)")
    released_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    duration_seconds: float | None
    error: str | None
    result: Any = None


class PipelineRunView(BaseModel):
    run_id: str
    pipeline: str
    status: str = Field(description="received|running|completed|failed|cancelled")
    state: str = Field(description="the run's state as the pipeline names its stages")
    failure_policy: str
    input: dict[str, Any]
    event_id: str | None
    error: str | None
    reruns: int
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    updated_at: datetime
    steps: list[PipelineStepView] = Field(default_factory=list)


class PipelineRunPage(BaseModel):
    items: list[PipelineRunView]
    next_cursor: str | None


class PipelineEventView(BaseModel):
    id: int
    run_id: str
    type: str
    step: str | None
    from_status: str | None
    to_status: str | None
    message: str | None
    data: dict[str, Any] | None
    created_at: datetime


RUN_FINAL_STATUSES = frozenset({"completed", "failed", "cancelled"})
