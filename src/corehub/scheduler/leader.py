"""Leadership of the scheduler role through the SQL lease (see store.leadership)."""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

from corehub.scheduler.cadence import Every
from corehub.service.tasks import SCHEDULER_ROLE as ROLE
from corehub.store.leadership import Fence, LeaderLeases

log = logging.getLogger("corehub.scheduler")


class SqlLeadership:
    """Takes the lease when it is free (tried every tick) and, once held, renews it every
    quarter of its TTL, not every tick: a renewal is a durable write. The fence it returns
    guards the tick's writes, which check the lease is live (`fenced_by`): a leader paused
    past its lease finds its writes refused, and its renewal after the pause tells it so."""

    def __init__(
        self, leases: LeaderLeases, ttl: timedelta, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.leases = leases
        self.ttl = ttl
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.fence: Fence | None = None
        self._renewal = Every(ttl.total_seconds() / 4, clock)

    def acquire(self) -> Fence | None:
        if self.fence is not None and not self._renewal.due():
            return self.fence
        try:
            fence = self.leases.acquire(ROLE, self.holder, self.ttl)
        except Exception:
            self._renewal.again()  # a renewal that failed is tried again at the next tick
            raise
        if fence is not None and self.fence is None:
            self._renewal.restart()  # the next renewal counts from this take
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
