"""When a worker acknowledges a message: when a pool process takes it if corehub published it,
when its task ends if a plain Celery client sent it.

A message corehub published stands for a row the database already holds, so its broker copy
is a cache: lost after the ack (a pool process killed before its claim commits), the task is
still `queued` and the relay publishes it again after `scheduler.redelivery_seconds`; once
claimed, the lease and its rescue keep it. Acknowledged when taken, the broker hands the
consumer its next message while the task runs rather than after it ends, which takes the
ack's and the next fetch's round trips off every task's turn. A plain client's message has
no row until its claim records one, so its ack waits for the end: it is its only keeper.
`worker.early_ack: false` acknowledges every message at its end, as Celery's `acks_late`.

Celery loads this by name in workers only; hubs that just publish never import its base.
"""

from __future__ import annotations

from celery.worker.request import Request

from corehub.engine.headers import acked_when_taken


class EarlyAckRequest(Request):  # type: ignore[misc]
    """Celery's request, acknowledging a recorded message when a pool process accepts it.
    Its task stays `acks_late`, so Celery's own ack at the end, or its requeue of a lost
    worker's message, is a no-op once this one is spent."""

    __slots__ = ()

    def on_accepted(self, pid: int, time_accepted: float) -> None:
        if acked_when_taken(self._task.app.context.settings, self._request_dict):
            self.acknowledge()
        super().on_accepted(pid, time_accepted)
