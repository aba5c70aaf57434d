"""Typed settings: environment (`COREHUB_…`, nested with `__`) > ./corehub.yaml >
~/.corehub/config.yaml > defaults. One object, built once and passed down."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from corehub.resilience.ratelimit import parse_rate

LOCAL_CONFIG = Path("corehub.yaml")
USER_CONFIG = Path("~/.corehub/config.yaml")
MiB = 1024 * 1024
MAX_EVERY_SECONDS = 10 * 365 * 86400  # a longer period overflows the slot arithmetic


class DatabaseSettings(BaseModel):
    url: str = Field(
        "",
        description="SQLAlchemy URL; empty means SQLite in `data_dir` "
        "(`postgresql://` uses psycopg 3)",
    )
    busy_timeout_ms: int = Field(5000, ge=0, description="SQLite: how long a writer waits")
    pool_size: int = Field(5, ge=1, description="connections kept per process")
    sqlite_synchronous: Literal["FULL", "NORMAL"] = Field(
        "FULL", description="SQLite durability; NORMAL may lose the last commits on power loss"
    )
    async_claim_commit: bool = Field(
        False,
        description="PostgreSQL: a claim's commit does not wait for its WAL flush "
        "(synchronous_commit=off); a server crash may undo claims of unfinished tasks, "
        "which then run again",
    )


class BrokerSettings(BaseModel):
    url: str = Field(
        "memory://localhost/", description="`memory://` (embedded), `redis://…` or `amqp://…`"
    )
    visibility_timeout_seconds: float = Field(
        3600.0,
        gt=0,
        description="Redis: an unacknowledged message is delivered again after this; the "
        "claim absorbs the duplicate",
    )
    publish_retries: int = Field(
        1, ge=0, description="publish attempts after the first before the relay takes over"
    )
    priority_queues: bool = Field(
        False,
        description="RabbitMQ: declare queues with x-max-priority so priorities apply; a plain "
        "Celery client must then declare them alike (task_queue_max_priority)",
    )


class ModulesSettings(BaseModel):
    paths: list[Path] = Field(
        default_factory=list, description="folders holding task-module packages (JSON list)"
    )
    entry_points: bool = Field(True, description="load modules of the `corehub.modules` group")


class ApiSettings(BaseModel):
    host: str = Field("127.0.0.1", description="address `corehub up`/`api` listen on")
    port: int = Field(8000, ge=1, le=65535, description="port `corehub up`/`api` listen on")
    workers: int = Field(
        1, ge=1, description="processes of `corehub api` sharing its port (one per core)"
    )
    max_body_bytes: int = Field(MiB, ge=1024, description="largest request body accepted")
    page_size: int = Field(50, ge=1, le=1000, description="default page size of listings")


class WorkerSettings(BaseModel):
    concurrency: int = Field(4, ge=1, description="task slots per worker")
    pool: Literal["prefork", "threads", "solo"] = Field(
        "prefork", description="pool of `corehub worker` (`corehub up` always uses threads)"
    )
    prefetch_multiplier: int = Field(
        1, ge=1, description="messages a worker holds per slot beyond the tasks it runs"
    )
    early_ack: bool = Field(
        True,
        description="acknowledge a message corehub published when a pool process takes it, "
        "not when its task ends (its row keeps it: lost before its claim, the relay publishes "
        "it again after `scheduler.redelivery_seconds`; on `redis://` it skips kombu's "
        "unacked hash too); a plain Celery client's message is acknowledged at its end either way",
    )
    heartbeat_seconds: float = Field(
        5.0, gt=0, description="how often a worker process extends its running attempts' leases"
    )
    queues: list[str] = Field(
        default_factory=list,
        description="queues consumed; empty: the default queue and every queue the registered "
        "tasks and pipeline steps name",
    )


class TaskSettings(BaseModel):
    default_queue: str = Field(
        "celery", description="queue of tasks that name none (Celery's own default)"
    )
    max_attempts: int = Field(
        3, ge=1, description="attempts per task (a lost worker costs one) unless it says otherwise"
    )
    max_result_bytes: int = Field(MiB, ge=1, description="largest JSON result a task may return")
    priorities: list[str] = Field(
        default_factory=lambda: ["high", "default", "low"],
        min_length=1,
        description="priority names, highest first; workers drain higher before lower",
    )
    default_priority: str = Field("default", description="priority of tasks that name none")

    @model_validator(mode="after")
    def _known_default_priority(self) -> TaskSettings:
        if self.default_priority not in self.priorities:
            raise ValueError(
                f"default_priority {self.default_priority!r} is not one of {self.priorities}"
            )
        if len(set(self.priorities)) != len(self.priorities):
            raise ValueError("priority names must be unique")
        return self


class SchedulerSettings(BaseModel):
    tick_seconds: float = Field(0.5, gt=0, description="how often the scheduler looks for work")
    lease_ttl_seconds: float = Field(
        10.0,
        gt=0,
        description="leadership lease, renewed every quarter of it; a silent leader is replaced "
        "after this",
    )
    heartbeat_timeout_seconds: float = Field(
        30.0,
        gt=0,
        description="an attempt silent this long is rescued (retried or dead), looked for every "
        "quarter of this",
    )
    redelivery_seconds: float = Field(
        300.0,
        gt=0,
        description="a queued task published this long ago and still unclaimed is published "
        "again (a broker lost it), looked for every tenth of this; the claim absorbs duplicates",
    )
    relay_grace_seconds: float = Field(
        2.0,
        ge=0,
        description="age of an unpublished task before the relay publishes it, looked for every "
        "half of this",
    )
    misfire_grace_seconds: float = Field(
        30.0,
        ge=0,
        description="a periodic slot later than this is a misfire (skipped, or run once)",
    )


SCHEDULE_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")


def check_cron(expr: str) -> str:
    """A five-field cron expression croniter understands, else ValueError."""
    if len(expr.split()) != 5 or not croniter.is_valid(expr):
        raise ValueError("not a valid five-field cron expression")
    try:  # valid syntax can still name a time that never comes (30 February)
        croniter(expr, datetime(2000, 1, 1, tzinfo=UTC)).get_next(datetime)
    except (CroniterBadDateError, OverflowError, ValueError):
        raise ValueError("a cron expression that never fires") from None
    return expr


def check_timezone(name: str) -> str:
    """An IANA time zone name, else ValueError."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("unknown time zone") from None
    return name


def check_schedule_name(name: str) -> str:
    if not SCHEDULE_NAME.match(name):
        raise ValueError("a schedule name is 1-200 of A-Z a-z 0-9 _ . : -")
    return name


class ScheduleConfig(BaseModel):
    """A periodic task from the config file: every N seconds, or a cron expression."""

    model_config = ConfigDict(extra="forbid")

    name: str
    task: str = Field(min_length=1, max_length=200)
    kwargs: dict[str, Any] = Field(default_factory=dict)
    args: list[Any] = Field(default_factory=list)
    every: float | None = Field(None, gt=0, le=MAX_EVERY_SECONDS)
    cron: str | None = None
    timezone: str = "UTC"
    misfire: Literal["skip", "run_once"] = "skip"
    queue: str | None = Field(None, max_length=100)
    priority: str | None = None
    paused: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_schedule_name(value)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        return check_timezone(value)

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return None if value is None else check_cron(value)

    @model_validator(mode="after")
    def _one_timing(self) -> ScheduleConfig:
        if (self.every is None) == (self.cron is None):
            raise ValueError(f"schedule {self.name!r} needs exactly one of `every` and `cron`")
        return self


def _default_schedules() -> list[ScheduleConfig]:
    return [ScheduleConfig(name="core.health_check", task="core.health_check", every=60)]


class BreakerSettings(BaseModel):
    failure_threshold: int = Field(5, ge=1, description="failures within the window that open it")
    window_seconds: float = Field(60.0, gt=0, description="window in which failures are counted")
    reset_seconds: float = Field(30.0, gt=0, description="how long it stays open before a probe")


class FlowSettings(BaseModel):
    """Limits by task name; they add to (and win over) what a task declares in code."""

    rate_limits: dict[str, str] = Field(
        default_factory=dict,
        description='task name → rate shared by all workers, e.g. {"mod.task": "10/s"} (JSON)',
    )
    concurrency: dict[str, int] = Field(
        default_factory=dict, description="task name → most running at once, per key (JSON)"
    )
    needs: dict[str, list[str]] = Field(
        default_factory=dict, description="task name → circuit breakers it needs (JSON)"
    )
    breakers: dict[str, BreakerSettings] = Field(
        default_factory=dict, description="breaker name → its own thresholds (JSON)"
    )
    breaker_defaults: BreakerSettings = Field(default_factory=BreakerSettings)
    recheck_seconds: float = Field(
        1.0, gt=0, description="how soon a task held by a concurrency limit is looked at again"
    )
    admit_batch: int = Field(500, ge=1, description="gated tasks the leader considers per tick")

    @field_validator("rate_limits")
    @classmethod
    def _valid_rates(cls, limits: dict[str, str]) -> dict[str, str]:
        for rate in limits.values():
            parse_rate(rate)  # its ValueError becomes a config error naming the key
        return limits


SOURCE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class EventSourceSettings(BaseModel):
    """One webhook sender: `POST /events/<name>` accepts what is signed with its secret.

    The header defaults are GitHub's; a `generic` sender signs the same way (HMAC-SHA256 of
    the raw body, hex, after `signature_prefix`) with headers of its own.
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["github", "generic"] = "github"
    secret: SecretStr = Field(min_length=1)
    signature_header: str = Field("X-Hub-Signature-256", min_length=1)
    signature_prefix: str = "sha256="
    event_header: str = Field("X-GitHub-Event", min_length=1)
    delivery_header: str = Field("X-GitHub-Delivery", min_length=1)


class EventSettings(BaseModel):
    sources: dict[str, EventSourceSettings] = Field(
        default_factory=dict,
        description="webhook senders by name: `kind` (`github` or `generic`), `secret`, and "
        "optionally `signature_header`, `signature_prefix`, `event_header`, "
        "`delivery_header`; see Events in",
    )

    @field_validator("sources")
    @classmethod
    def _source_names(
        cls, sources: dict[str, EventSourceSettings]
    ) -> dict[str, EventSourceSettings]:
        bad = [name for name in sources if not SOURCE_NAME.match(name)]
        if bad:
            raise ValueError(f"source names are 1-64 of A-Z a-z 0-9 _ . - (got {bad})")
        return sources


class LoggingSettings(BaseModel):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="log level")
    json_output: bool = Field(False, description="one JSON object per log line")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="COREHUB_", env_nested_delimiter="__", extra="forbid"
    )

    data_dir: Path = Field(Path(".corehub"), description="where the embedded hub keeps its files")
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    modules: ModulesSettings = Field(default_factory=ModulesSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    tasks: TaskSettings = Field(default_factory=TaskSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    flow: FlowSettings = Field(default_factory=FlowSettings)
    events: EventSettings = Field(default_factory=EventSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    schedules: list[ScheduleConfig] = Field(
        default_factory=_default_schedules,
        description="periodic tasks (JSON list in the environment); see Schedules",
    )

    @field_validator("schedules")
    @classmethod
    def _unique_schedules(
        cls, value: list[ScheduleConfig], info: ValidationInfo
    ) -> list[ScheduleConfig]:
        names = [s.name for s in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"schedule names must be unique: {', '.join(twice)}")
        tasks = info.data.get("tasks")
        priorities = tasks.priorities if isinstance(tasks, TaskSettings) else None
        unknown = [s.name for s in value if priorities and s.priority not in (None, *priorities)]
        if unknown:
            raise ValueError(f"unknown priority in schedules {', '.join(unknown)}")
        return value

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database.url:
            self.database.url = f"sqlite:///{self.data_dir / 'corehub.db'}"
        return self

    @property
    def embedded_broker(self) -> bool:
        """True when the broker lives inside one process: only that process may publish."""
        return self.broker.url.startswith("memory://")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            YamlConfigSettingsSource(settings_cls, yaml_file=LOCAL_CONFIG),
            YamlConfigSettingsSource(settings_cls, yaml_file=USER_CONFIG.expanduser()),
        )
