"""Typed settings: environment (`COREHUB_…`, nested with `__`) > ./corehub.yaml >
~/.corehub/config.yaml > defaults. One object, built once and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

LOCAL_CONFIG = Path("corehub.yaml")
USER_CONFIG = Path("~/.corehub/config.yaml")
MiB = 1024 * 1024


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


class BrokerSettings(BaseModel):
    url: str = Field(
        "memory://localhost/", description="`memory://` (embedded), `redis://…` or `amqp://…`"
    )
    polling_interval: float = Field(
        0.005, gt=0, description="seconds between polls of the in-process broker"
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


class ModulesSettings(BaseModel):
    paths: list[Path] = Field(
        default_factory=list, description="folders holding task-module packages (JSON list)"
    )
    entry_points: bool = Field(True, description="load modules of the `corehub.modules` group")


class ApiSettings(BaseModel):
    host: str = Field("127.0.0.1", description="address `corehub up`/`api` listen on")
    port: int = Field(8000, ge=1, le=65535, description="port `corehub up`/`api` listen on")
    max_body_bytes: int = Field(MiB, ge=1024, description="largest request body accepted")
    page_size: int = Field(50, ge=1, le=1000, description="default page size of listings")


class WorkerSettings(BaseModel):
    concurrency: int = Field(4, ge=1, description="task slots per worker")
    pool: Literal["prefork", "threads", "solo"] = Field(
        "prefork", description="pool of `corehub worker` (`corehub up` always uses threads)"
    )
    prefetch_multiplier: int = Field(1, ge=1, description="messages reserved per slot")
    heartbeat_seconds: float = Field(
        5.0, gt=0, description="how often a worker process extends its running attempts' leases"
    )
    queues: list[str] = Field(default_factory=lambda: ["celery"], description="queues consumed")


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
        10.0, gt=0, description="leadership lease; a silent leader is replaced after this"
    )
    heartbeat_timeout_seconds: float = Field(
        30.0, gt=0, description="an attempt silent this long is rescued (retried or dead)"
    )
    redelivery_seconds: float = Field(
        300.0,
        gt=0,
        description="a queued task published this long ago and still unclaimed is published "
        "again (a broker lost it); the claim absorbs duplicates",
    )
    relay_grace_seconds: float = Field(
        2.0, ge=0, description="age of an unpublished task before the relay publishes it"
    )


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
    logging: LoggingSettings = Field(default_factory=LoggingSettings)

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
