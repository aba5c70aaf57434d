"""What the worker side needs at hand: settings, the record and the catalogue."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field

from corehub.config import Settings
from corehub.engine.finishes import PendingFinishes
from corehub.engine.heartbeat import Heartbeats
from corehub.registry import Registry
from corehub.service.flow import FlowPolicy, release_gate
from corehub.service.outbox import Publisher
from corehub.store import TaskStore
from corehub.store.effects import EffectLedger
from corehub.store.pipelines import PipelineStore


@dataclass
class EngineContext:
    settings: Settings
    registry: Registry
    store: TaskStore
    hostname: str = field(default_factory=socket.gethostname)
    heartbeats: Heartbeats = field(init=False)
    finishes: PendingFinishes = field(init=False)
    effects: EffectLedger = field(init=False)
    pipelines: PipelineStore = field(init=False)
    # Publishes the steps a finish releases; set once the Celery app exists.
    publisher: Publisher | None = None

    def __post_init__(self) -> None:
        self.heartbeats = Heartbeats(self.store.attempts, self.settings.worker.heartbeat_seconds)
        self.finishes = PendingFinishes(self.store, self.heartbeats)
        self.effects = EffectLedger(self.store.db)
        self.pipelines = PipelineStore(
            self.store, gate=release_gate(FlowPolicy(self.settings, self.registry))
        )

    def queues(self) -> list[str]:
        """What a worker consumes: the configured queues, or by default the default queue and
        every queue the registry routes to (so routed tasks run without more set-up)."""
        configured = self.settings.worker.queues
        if configured:
            return list(configured)
        default = self.settings.tasks.default_queue
        return [default, *(q for q in self.registry.queues() if q != default)]

    def worker_name(self) -> str:
        """Per process, because prefork children each hold their own leases."""
        return f"{self.hostname}:{os.getpid()}"
