"""The outbox relay: accepted tasks that never reached the broker are published here."""

from __future__ import annotations

import logging
from datetime import timedelta

from corehub.service import Publisher, publish_committed
from corehub.store import TaskStore
from corehub.store.leadership import Fence

log = logging.getLogger("corehub.scheduler")


class Relay:
    def __init__(
        self,
        store: TaskStore,
        publisher: Publisher,
        *,
        grace: timedelta,
        redelivery: timedelta | None = None,
        batch: int = 500,
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.grace = grace
        self.redelivery = redelivery
        self.batch = batch

    def run_once(self, *, grace: timedelta | None = None, fence: Fence | None = None) -> int:
        """Publish one batch of stranded tasks; returns how many were published and marked."""
        stranded = self.store.unpublished(
            older_than=self.grace if grace is None else grace,
            limit=self.batch,
            redelivery=self.redelivery,
        )
        if not stranded:
            return 0
        published = publish_committed(self.store, self.publisher, stranded, fence)
        log.info("relay published %d of %d stranded tasks", published, len(stranded))
        return published

    def drain(self, *, grace: timedelta | None = None, fence: Fence | None = None) -> int:
        """Publish full batches until one falls short (nothing left, or a refusal)."""
        total = 0
        while True:
            n = self.run_once(grace=grace, fence=fence)
            total += n
            if n < self.batch:
                return total
