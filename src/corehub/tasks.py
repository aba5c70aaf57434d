"""What task code may use: retry requests, the running task, and effects done once.

Raise `Retry(after=seconds)` to try again later (an attempt is spent; the wait happens in
SQL, not in the broker). Raise a `TransientError` (or an exception listed in the task's
`retry_on`) to retry with the task's backoff. Any other exception fails the task at once.

Delivery is at least once, so a task may run again after a crash. Wrap each external effect
in `once(key)` to make it effectively once: the block runs unless an earlier attempt of this
task completed it. An attempt that dies inside the block runs it again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol


class TransientError(Exception):
    """A failure worth retrying: a timeout, a 503, a lock held elsewhere."""


class Retry(TransientError):
    """Retry this task after `after` seconds (the task's backoff when None)."""

    def __init__(self, after: float | None = None, reason: str = "retry requested") -> None:
        super().__init__(reason)
        self.after = after


class Ledger(Protocol):
    def done(self, key: str) -> bool: ...
    def record(self, key: str, task_id: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class RunningTask:
    """The task whose body is running in this context (set by the worker)."""

    task_id: str
    name: str
    attempt: int
    max_attempts: int
    ledger: Ledger

    def key(self, name: str) -> str:
        """A key stable across this task's attempts (not per attempt)."""
        return f"{self.task_id}:{name}"


_running: ContextVar[RunningTask | None] = ContextVar("corehub_running_task", default=None)


def current_task() -> RunningTask:
    task = _running.get()
    if task is None:
        raise RuntimeError("no corehub task is running in this context")
    return task


@contextmanager
def once(name: str) -> Iterator[bool]:
    """`with once("charge-card") as first: if first: charge()` - yields False when an
    earlier attempt of this task completed the block; records it when the block succeeds."""
    task = current_task()
    key = task.key(name)
    first = not task.ledger.done(key)
    yield first
    if first:
        task.ledger.record(key, task.task_id)


@contextmanager
def running(task: RunningTask) -> Iterator[None]:
    """For the worker: make `task` current while its body runs."""
    token = _running.set(task)
    try:
        yield
    finally:
        _running.reset(token)


__all__ = ["Retry", "RunningTask", "TransientError", "current_task", "once"]
