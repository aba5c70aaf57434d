"""The leader's admission duty: gated tasks whose limits allow go to the broker now."""

from __future__ import annotations

import logging

from corehub.service.flow import FlowPolicy
from corehub.service.outbox import Publisher, publish_committed
from corehub.store import TaskStore
from corehub.store.flow import FlowStore
from corehub.store.leadership import Fence

log = logging.getLogger("corehub.scheduler")


class AdmissionDuty:
    """Each tick with a gated task due: admit what rate limits, concurrency limits and
    breakers allow (one fenced transaction), then publish the admitted tasks at once; what
    fails to publish stays for the relay."""

    name = "admission"

    def __init__(self, store: TaskStore, publisher: Publisher, policy: FlowPolicy) -> None:
        self.store = store
        self.flow = FlowStore(store.db)
        self.publisher = publisher
        self.policy = policy

    def run(self, fence: Fence) -> None:
        if not self.store.attempts.any_due(gated=True):
            return
        batch = self.policy.settings.flow.admit_batch
        admitted = self.flow.admit(self.policy, fence=fence, limit=batch)
        if admitted:
            log.debug("admitted %d gated tasks", len(admitted))
            publish_committed(self.store, self.publisher, admitted, fence)
