"""The scheduler: a loop of ticks in which the leader does the periodic work.

Leadership is a seam: `Leadership.is_leader()` decides whether this process acts on a tick.
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

from corehub.scheduler.relay import Relay

log = logging.getLogger("corehub.scheduler")


class Leadership(Protocol):
    def is_leader(self) -> bool: ...


class AlwaysLeader:
    """For a single scheduler; duplicates of its work are absorbed by the claim CAS."""

    def is_leader(self) -> bool:
        return True


class Scheduler:
    def __init__(
        self, relay: Relay, *, tick_seconds: float, leadership: Leadership | None = None
    ) -> None:
        self.relay = relay
        self.tick_seconds = tick_seconds
        self.leadership = leadership or AlwaysLeader()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> None:
        if not self.leadership.is_leader():
            return
        self.relay.drain()

    def run(self) -> None:
        """Tick until stopped; a failing tick is logged and the loop goes on."""
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception as exc:
                log.warning("scheduler tick failed: %s: %s", type(exc).__name__, exc)
            self._stop.wait(self.tick_seconds)

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
