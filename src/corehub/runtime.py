"""Composition: settings in, every part wired. Entry points build one `Runtime` and use it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from corehub.config import Settings
from corehub.engine import CorehubCelery, EngineContext, create_celery
from corehub.registry import Registry, discover
from corehub.scheduler import Relay, Scheduler, SqlLeadership
from corehub.scheduler.admission import AdmissionDuty
from corehub.scheduler.periodic import PeriodicDuty
from corehub.scheduler.pipelines import PipelineSweep
from corehub.service import TaskService
from corehub.service.events import EventService
from corehub.service.flow import FlowPolicy, FlowService
from corehub.service.hub import Services
from corehub.service.outbox import Publisher
from corehub.service.pipelines import PipelineService
from corehub.service.schedules import ScheduleService
from corehub.store import Database, TaskStore
from corehub.store.inbound import InboundStore
from corehub.store.leadership import LeaderLeases
from corehub.store.migrate import upgrade
from corehub.store.schedules import ScheduleStore


@dataclass
class Runtime:
    settings: Settings
    db: Database
    store: TaskStore
    registry: Registry
    celery: CorehubCelery
    publisher: Publisher | None
    service: TaskService
    pipelines: PipelineService
    events: EventService
    schedules: ScheduleService
    flow: FlowService

    @property
    def services(self) -> Services:
        return Services(self.service, self.pipelines, self.schedules, self.events, self.flow)

    def scheduler(self) -> Scheduler:
        """The scheduler, with the config file's schedules synced into the table first."""
        if self.publisher is None:
            raise RuntimeError("a scheduler needs a publisher")
        cfg = self.settings.scheduler
        self.schedules.sync_config(self.settings.schedules)
        relay = Relay(
            self.store,
            self.publisher,
            grace=timedelta(seconds=cfg.relay_grace_seconds),
            redelivery=timedelta(seconds=cfg.redelivery_seconds),
        )
        leadership = SqlLeadership(LeaderLeases(self.db), timedelta(seconds=cfg.lease_ttl_seconds))
        return Scheduler(
            relay,
            self.store.attempts,
            leadership,
            tick_seconds=cfg.tick_seconds,
            heartbeat_timeout=timedelta(seconds=cfg.heartbeat_timeout_seconds),
            duties=[
                PipelineSweep(self.pipelines.store, self.store, self.publisher),
                PeriodicDuty(
                    self.schedules.store,
                    self.service,
                    grace=timedelta(seconds=cfg.misfire_grace_seconds),
                ),
                AdmissionDuty(self.store, self.publisher, self.flow.policy),
            ],
        )

    def close(self) -> None:
        self.store.marks.flush()
        self.db.dispose()


def build_runtime(
    settings: Settings,
    *,
    publish: bool = True,
    migrate: bool = True,
    registry: Registry | None = None,
) -> Runtime:
    """`publish=False` leaves publishing to the relay (a CLI beside an embedded hub)."""
    db = Database(
        settings.database.url,
        pool_size=settings.database.pool_size,
        busy_timeout_ms=settings.database.busy_timeout_ms,
        sqlite_synchronous=settings.database.sqlite_synchronous,
        async_claim_commit=settings.database.async_claim_commit,
    )
    if migrate:
        upgrade(db)
    store = TaskStore(db)
    registry = registry or discover(settings.modules)
    celery = create_celery(EngineContext(settings, registry, store))
    publisher = celery.context.publisher if publish else None
    service = TaskService(store, registry, publisher, settings)
    pipelines = PipelineService(celery.context.pipelines, registry, service, publisher)
    events = EventService(InboundStore(db), pipelines, store, publisher, settings)
    schedules = ScheduleService(ScheduleStore(db), service)
    flow = FlowService(db, FlowPolicy(settings, registry))
    return Runtime(
        settings,
        db,
        store,
        registry,
        celery,
        publisher,
        service,
        pipelines,
        events,
        schedules,
        flow,
    )
