"""Deferred publish marks: many publishers' ids in one statement, off the request path.

`published_at` is only the relay's hint that a queued task reached the broker. A mark that
comes late, or never (the process died first), costs at worst one duplicate message after
the relay's grace, which the claim's compare-and-set absorbs. So a request that releases
tasks (pipeline steps, inbound events) does not wait for their mark; a background thread
writes the marks of every request of the last moment at once, and only for tasks still
queued and unmarked (a claimed task is not written again). Submitted tasks need none: they
are stored marked (`TaskStore.create(published=True)`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable

log = logging.getLogger("corehub.store")

FLUSH_SECONDS = 0.1  # well inside the relay's grace (seconds), so it rarely republishes


class PublishMarks:
    def __init__(self, write: Callable[[list[str]], object], interval: float = FLUSH_SECONDS):
        self._write = write
        self._interval = interval
        self._lock = threading.Lock()
        self._pending: list[str] = []
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def add(self, task_ids: Iterable[str]) -> None:
        with self._lock:
            self._pending.extend(task_ids)
            if self._thread is None or self._pid != os.getpid():  # none yet, or forked
                self._pid = os.getpid()
                self._thread = threading.Thread(
                    target=self._run, name="corehub-publish-marks", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def flush(self) -> int:
        """Write what is pending now; returns how many ids were written (or dropped)."""
        with self._lock:
            ids, self._pending = self._pending, []
        if not ids:
            return 0
        try:
            self._write(ids)
        except Exception as exc:  # the relay republishes; the claim absorbs the duplicate
            log.warning("could not mark %d tasks published: %s", len(ids), exc)
        return len(ids)

    def _run(self) -> None:
        while True:
            self._wake.wait()
            time.sleep(self._interval)  # gather the marks of the moment into one statement
            self._wake.clear()
            self.flush()
