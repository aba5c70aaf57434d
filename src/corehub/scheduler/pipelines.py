"""The leader's sweep for pipeline steps whose task ended outside a step finish.

A step finish advances its run in its own transaction; this catches the other ways a task
ends (rescued with no attempts left, a hard time limit, a step task cancelled on its own),
so no run waits forever on a step that will never report. Those are rare, and a run waits
at most a second longer for them: the sweep runs once a second, not every tick.
"""

from __future__ import annotations

from corehub.scheduler.cadence import Every
from corehub.service.outbox import Publisher, apply_changes
from corehub.store import TaskStore
from corehub.store.leadership import Fence
from corehub.store.pipelines import PipelineStore

SWEEP_SECONDS = 1.0


class PipelineSweep:
    name = "pipelines"

    def __init__(self, pipelines: PipelineStore, store: TaskStore, publisher: Publisher) -> None:
        self.pipelines = pipelines
        self.store = store
        self.publisher = publisher
        self._every = Every(SWEEP_SECONDS)

    def run(self, fence: Fence) -> None:
        if not self._every.due():
            return
        apply_changes(self.store, self.publisher, self.pipelines.reconcile(), fence)
