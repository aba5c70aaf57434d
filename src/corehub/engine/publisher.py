"""Hands committed tasks to the broker. Failures are returned, never raised: the row is the
promise, and the relay keeps it."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from corehub.engine.app import CorehubCelery
from corehub.engine.priorities import priority_levels
from corehub.store import TaskRecord

log = logging.getLogger("corehub.engine")


class CeleryPublisher:
    def __init__(self, app: CorehubCelery, retries: int = 1) -> None:
        self.app = app
        self.levels = priority_levels(app.context.settings)  # name -> the broker's number
        self.retry_policy = {
            "max_retries": retries,
            "interval_start": 0.1,
            "interval_step": 0.2,
            "interval_max": 0.5,
        }

    def publish(self, tasks: Sequence[TaskRecord]) -> list[str]:
        done: list[str] = []
        try:
            with self.app.producer_or_acquire() as producer:
                for task in tasks:
                    self.app.send_task(
                        task.name,
                        args=task.args,
                        kwargs=task.kwargs,
                        task_id=task.id,
                        queue=task.queue,
                        priority=self.levels.get(task.priority),
                        soft_time_limit=task.soft_time_limit,
                        time_limit=task.time_limit,
                        producer=producer,
                        retry=True,
                        retry_policy=self.retry_policy,
                    )
                    done.append(task.id)
        except Exception as exc:
            log.warning(
                "broker publish failed after %d of %d tasks: %s: %s",
                len(done),
                len(tasks),
                type(exc).__name__,
                exc,
            )
        return done

    def revoke(self, task_id: str, *, terminate: bool) -> None:
        """Best effort: the record already says cancelled, and the claim and finish
        compare-and-sets enforce it whether or not this broadcast arrives."""
        try:
            self.app.control.revoke(task_id, terminate=terminate, signal="SIGTERM")
        except Exception as exc:
            log.warning("revoke of %s not broadcast: %s: %s", task_id, type(exc).__name__, exc)
