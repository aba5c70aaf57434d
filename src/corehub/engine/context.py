"""What the worker side needs at hand: settings, the record and the catalogue."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field

from corehub.config import Settings
from corehub.engine.heartbeat import Heartbeats
from corehub.registry import Registry
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
    effects: EffectLedger = field(init=False)
    pipelines: PipelineStore = field(init=False)
    # Publishes the steps a finish releases; set once the Celery app exists.
    publisher: Publisher | None = None

    def __post_init__(self) -> None:
        self.heartbeats = Heartbeats(self.store.attempts, self.settings.worker.heartbeat_seconds)
        self.effects = EffectLedger(self.store.db)
        self.pipelines = PipelineStore(self.store)

    def worker_name(self) -> str:
        """Per process, because prefork children each hold their own leases."""
        return f"{self.hostname}:{os.getpid()}"
