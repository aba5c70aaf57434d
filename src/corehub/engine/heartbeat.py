"""Heartbeats, batched per worker process: one UPDATE per interval for all its leases."""

from __future__ import annotations

import logging
import os
import threading
import time

from corehub.store.attempts import AttemptLeases

log = logging.getLogger("corehub.engine")


class Heartbeats:
    """Keeps this process's attempt leases fresh while their task bodies run.

    The thread starts on first use in each process, so prefork children get their own.
    """

    def __init__(self, leases: AttemptLeases, interval: float) -> None:
        self.leases = leases
        self.interval = interval
        self._tokens: set[str] = set()
        self._lock = threading.Lock()
        self._pid: int | None = None

    def hold(self, token: str) -> None:
        with self._lock:
            if self._pid != os.getpid():
                self._tokens.clear()
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="corehub-heartbeat", daemon=True).start()
            self._tokens.add(token)

    def release(self, token: str) -> None:
        with self._lock:
            self._tokens.discard(token)

    def _run(self) -> None:
        pid = os.getpid()
        while os.getpid() == pid:  # a forked child starts its own thread instead
            time.sleep(self.interval)
            with self._lock:
                tokens = list(self._tokens)
            if not tokens:
                continue
            try:
                self.leases.beat(tokens)
            except Exception as exc:  # a missed beat is survivable; the next one may land
                log.warning("heartbeat of %d attempts failed: %s", len(tokens), exc)
