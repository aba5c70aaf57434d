"""A Celery worker inside the hub's own process: threads pool, in-process broker."""

from __future__ import annotations

import logging
import threading

from celery.app.trace import setup_worker_optimizations
from celery.worker import WorkController
from celery.worker import state as worker_state

from corehub.engine.app import CorehubCelery

log = logging.getLogger("corehub.engine")


class EmbeddedWorker:
    def __init__(self, app: CorehubCelery, concurrency: int) -> None:
        self.app = app
        hostname = f"embedded@{app.context.hostname}"
        app.finalize()
        # What `celery worker` does before starting: the pool's fast tracer reads it.
        setup_worker_optimizations(app, hostname)
        self.controller = WorkController(
            app=app,
            hostname=hostname,
            pool_cls="threads",
            concurrency=concurrency,
            without_heartbeat=True,
            without_mingle=True,
            without_gossip=True,
            queues=app.context.queues(),
            loglevel="WARNING",
        )
        self._thread = threading.Thread(
            target=self.controller.start, name="corehub-worker", daemon=True
        )

    def start(self) -> None:
        worker_state.should_stop = None
        worker_state.should_terminate = None
        self._thread.start()

    def request_stop(self) -> None:
        """Ask for a warm stop without waiting: the loop notices within its 2 s poll."""
        worker_state.should_stop = 0

    def stop(self, timeout: float = 4.0) -> None:
        """Warm stop (finish running tasks) within `timeout`, then terminate."""
        self.request_stop()
        # Closing the consumer wakes the loop's blocking poll now instead of after it times
        # out; running tasks still finish (warm).
        self.controller.stop(in_sighandler=False, exitcode=0)
        self._thread.join(timeout)
        if self._thread.is_alive():
            worker_state.should_terminate = 0
            self._thread.join(1.0)
        if self._thread.is_alive():
            log.warning("embedded worker did not stop in time; unfinished tasks rerun at start")
