"""The task lifecycle as a table: states, the legal moves between them, and which are final."""

from __future__ import annotations

from enum import StrEnum


class TaskStatus(StrEnum):
    SCHEDULED = "scheduled"  # accepted, waiting in SQL for its run_at
    QUEUED = "queued"  # accepted and due: on the broker or about to be (the contract's "pending")
    STARTED = "started"  # an attempt holds the lease
    RETRYING = "retrying"  # an attempt failed; waiting in SQL for its backoff
    SUCCESS = "success"
    FAILURE = "failure"
    DEAD = "dead"  # attempts exhausted or the task could never run
    CANCELLED = "cancelled"


S = TaskStatus
TERMINAL: frozenset[TaskStatus] = frozenset({S.SUCCESS, S.FAILURE, S.DEAD, S.CANCELLED})

# from-state -> states it may move to; None is "no row yet".
TRANSITIONS: dict[TaskStatus | None, frozenset[TaskStatus]] = {
    None: frozenset({S.QUEUED, S.SCHEDULED, S.FAILURE}),
    S.SCHEDULED: frozenset({S.QUEUED, S.CANCELLED}),
    S.QUEUED: frozenset({S.STARTED, S.FAILURE, S.CANCELLED, S.DEAD}),
    S.STARTED: frozenset({S.SUCCESS, S.FAILURE, S.QUEUED, S.RETRYING, S.DEAD, S.CANCELLED}),
    S.RETRYING: frozenset({S.QUEUED, S.CANCELLED}),
    S.SUCCESS: frozenset(),
    S.FAILURE: frozenset(),
    S.DEAD: frozenset(),
    S.CANCELLED: frozenset(),
}


def is_legal(from_status: TaskStatus | None, to_status: TaskStatus) -> bool:
    return to_status in TRANSITIONS[from_status]


class ErrorClass(StrEnum):
    """Why an attempt failed, as retries and operators reason about it."""

    PERMANENT = "permanent"  # the task body raised something not worth retrying
    TRANSIENT = "transient"  # the task body raised something worth retrying
    TIMEOUT = "timeout"  # a time limit ended the attempt
    INVALID_RESULT = "invalid_result"  # not JSON, or over the size limit
    UNKNOWN_TASK = "unknown_task"  # no such task in this worker's registry
    MALFORMED_MESSAGE = "malformed_message"  # the broker message could not be decoded
    WORKER_LOST = "worker_lost"
    RATE_LIMITED = "rate_limited"  # not a failure: waiting in SQL for its rate limit's token
    BREAKER_OPEN = "breaker_open"  # not a failure: waiting while a dependency's breaker is open
