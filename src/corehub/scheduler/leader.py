"""Leadership of the scheduler role through the SQL lease (see store.leadership)."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import timedelta

from corehub.service.tasks import SCHEDULER_ROLE as ROLE
from corehub.store.leadership import Fence, LeaderLeases

log = logging.getLogger("corehub.scheduler")


class SqlLeadership:
    """Renews the lease on every tick; the fence it returns guards the tick's writes."""

    def __init__(self, leases: LeaderLeases, ttl: timedelta) -> None:
        self.leases = leases
        self.ttl = ttl
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.fence: Fence | None = None

    def acquire(self) -> Fence | None:
        fence = self.leases.acquire(ROLE, self.holder, self.ttl)
        if (fence is None) != (self.fence is None):
            log.info(
                "scheduler %s %s leadership%s",
                self.holder,
                "lost" if fence is None else "took",
                "" if fence is None else f" (epoch {fence.epoch})",
            )
        self.fence = fence
        return fence

    def release(self) -> None:
        if self.fence is not None:
            self.leases.release(self.fence)
            self.fence = None
