"""The scheduler: a loop of ticks in which only the leader acts.

Each tick renews (or tries to take) the leader lease; the leader releases delayed tasks and
retries that are due (publishing them at once) and runs its duties (periodic schedules,
admission, the pipeline sweep). What waits on a longer clock than the tick is looked at on
that clock instead: attempts whose heartbeats stopped every quarter of the heartbeat timeout
(and at the next tick again after a rescue, as more may wait), tasks that never reached the
broker every half of the relay's grace; and the writes that release or admit waiting tasks
are made only when a read finds one due. An idle tick was the hub's idle cost: seven
statements, 21 ms of the scheduler's CPU; at the tests' 0.2 s tick the scheduler and its
share of PostgreSQL took 15% of a core per idle hub, now 4.4%. Its writes to tasks are
fenced by its epoch, so a paused old leader that wakes up changes nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Protocol

from corehub.scheduler.cadence import Every
from corehub.scheduler.relay import Relay
from corehub.service import publish_committed
from corehub.store.attempts import AttemptLeases
from corehub.store.leadership import Fence

log = logging.getLogger("corehub.scheduler")
LOST_WORKER = "the attempt's heartbeats stopped (worker lost)"


class Leadership(Protocol):
    def acquire(self) -> Fence | None: ...
    def release(self) -> None: ...


class Duty(Protocol):
    """One job the leader is given each tick (admit gated tasks, fire periodic schedules,
    sweep pipelines); it may do nothing when it has nothing due. Its writes are fenced by
    `fence`."""

    name: str

    def run(self, fence: Fence) -> None: ...


class Scheduler:
    def __init__(
        self,
        relay: Relay,
        attempts: AttemptLeases,
        leadership: Leadership,
        *,
        tick_seconds: float,
        heartbeat_timeout: timedelta,
        duties: Sequence[Duty] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.relay = relay
        self.attempts = attempts
        self.leadership = leadership
        self.tick_seconds = tick_seconds
        self.heartbeat_timeout = heartbeat_timeout
        self.duties = list(duties)
        self._rescue = Every(heartbeat_timeout.total_seconds() / 4, clock)
        self._relay = Every(relay.grace.total_seconds() / 2, clock)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> None:
        fence = self.leadership.acquire()
        if fence is None:
            return
        if self._rescue.due():
            self._rescue_stale(fence)
        if self.attempts.any_due(gated=False):
            released = self.attempts.release_due(fence=fence)
            publish_committed(self.relay.store, self.relay.publisher, released, fence)
        for duty in self.duties:
            try:
                duty.run(fence)
            except Exception as exc:  # one failing duty must not starve the others
                log.warning("scheduler duty %s failed: %s: %s", duty.name, type(exc).__name__, exc)
        if self._relay.due():
            self.relay.drain(fence=fence)

    def _rescue_stale(self, fence: Fence) -> None:
        rescue = self.attempts.rescue_stale(
            timeout=self.heartbeat_timeout, fence=fence, reason=LOST_WORKER
        )
        rescued = len(rescue.requeued) + len(rescue.dead)
        if rescued:
            log.warning(
                "rescued %d attempts (%d requeued, %d dead)",
                rescued,
                len(rescue.requeued),
                len(rescue.dead),
            )
        if rescued:  # more may wait (each statement takes up to a batch): the next tick looks
            self._rescue.again()

    def run(self) -> None:
        """Tick until stopped; a failing tick is logged and the loop goes on.

        Ticks start every `tick_seconds` (a tick's own work is not added to the wait), so a
        due task waits at most one tick plus the tick's work.
        """
        try:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    self.tick()
                except Exception as exc:
                    log.warning("scheduler tick failed: %s: %s", type(exc).__name__, exc)
                self._stop.wait(max(0.0, self.tick_seconds - (time.monotonic() - started)))
        finally:
            try:
                self.leadership.release()
            except Exception as exc:
                log.warning("could not release leadership: %s", exc)

    def request_stop(self) -> None:
        """Ask the loop to end after its current tick (safe from a signal handler)."""
        self._stop.set()

    def start_thread(self) -> None:
        self._thread = threading.Thread(target=self.run, name="corehub-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
