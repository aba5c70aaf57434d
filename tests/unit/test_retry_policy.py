"""How a failed attempt is classified, and which backoff its retry waits for."""

from __future__ import annotations

from corehub.engine.execution import failure_outcome
from corehub.registry.specs import TaskOptions, describe
from corehub.store import Lease, TaskStatus
from corehub.tasks import Retry, TransientError

SLOW = TaskOptions(
    backoff_base=1000.0,
    backoff_cap=1000.0,
    retry_on=(ConnectionError,),
    dont_retry_on=(ConnectionRefusedError,),
)


def _spec(options: TaskOptions = SLOW):  # type: ignore[no-untyped-def]
    return describe("m", "t", lambda: None, options)


def _lease(attempt: int = 1, base: float | None = None, cap: float | None = None) -> Lease:
    return Lease("id", "token", attempt, 3, base, cap)


def test_a_submit_chosen_backoff_wins_over_the_task_default() -> None:
    delays = [
        failure_outcome(_spec(), _lease(base=0.01, cap=0.01), TransientError()).retry_in
        for _ in range(200)
    ]
    assert all(d is not None and 0 <= d <= 0.01 for d in delays)


def test_without_a_submit_backoff_the_task_default_applies() -> None:
    delays = [failure_outcome(_spec(), _lease(), TransientError()).retry_in for _ in range(200)]
    assert max(d or 0 for d in delays) > 0.01


def test_retry_after_asks_for_its_own_delay() -> None:
    outcome = failure_outcome(_spec(), _lease(), Retry(after=7))
    assert (outcome.status, outcome.retry_in) == (TaskStatus.RETRYING, 7)


def test_an_exception_in_retry_on_is_transient() -> None:
    outcome = failure_outcome(_spec(), _lease(), ConnectionError("x"))
    assert (outcome.status, outcome.error_class) == (TaskStatus.RETRYING, "transient")


def test_dont_retry_on_overrides_retry_on() -> None:
    outcome = failure_outcome(_spec(), _lease(), ConnectionRefusedError("x"))
    assert (outcome.status, outcome.error_class) == (TaskStatus.FAILURE, "permanent")


def test_a_transient_error_on_the_last_attempt_is_dead() -> None:
    outcome = failure_outcome(_spec(), _lease(attempt=3), TransientError())
    assert (outcome.status, outcome.retry_in) == (TaskStatus.DEAD, None)
