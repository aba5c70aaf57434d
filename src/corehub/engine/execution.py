"""How one delivery of a task runs: claim by CAS, run the body, finish by CAS.

The attempt is recorded before the body runs; a delivery that cannot claim (duplicate,
already finished) changes nothing and runs nothing. A pipeline step starts in its claim's
transaction and releases the next steps in its finish's.
"""

from __future__ import annotations

import logging
import traceback
from functools import partial
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded

from corehub import jsoncodec
from corehub.engine.context import EngineContext
from corehub.errors import Unavailable
from corehub.registry import TaskSpec
from corehub.resilience import Backoff
from corehub.service.flow import FlowPolicy
from corehub.service.outbox import apply_changes
from corehub.store import ErrorClass, Lease, NewTask, Outcome, TaskStatus
from corehub.store.flow import FlowStore
from corehub.tasks import Retry, RunningTask, running

log = logging.getLogger("corehub.engine")
BREAKER_FAILURES = frozenset({ErrorClass.TRANSIENT, ErrorClass.TIMEOUT})
ADOPTED = "received from a Celery client without a record; recorded at claim"


def run_delivery(
    ctx: EngineContext,
    spec: TaskSpec,
    task_id: str,
    queue: str | None,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    step: bool = False,
) -> None:
    """Run one delivery; `step` when its message says it is a pipeline step. On PostgreSQL
    a busy process's finish rides with its next claim (`corehub.engine.finishes`)."""
    lease = claim(ctx, spec, task_id, queue, args, kwargs, step=step)
    if lease is None:
        log.info(
            "task %s %s: not claimable (duplicate or finished delivery); skipped",
            spec.name,
            task_id,
        )
        return
    ctx.heartbeats.hold(lease.token)
    try:
        outcome = execute(ctx, spec, lease, args, kwargs)
    except BaseException:
        ctx.heartbeats.release(lease.token)
        raise
    then = partial(_finished, ctx, spec, lease, outcome)
    try:
        if lease.pipeline_run_id is None and not ctx.store.db.is_sqlite:
            ctx.finishes.put(lease, outcome, then)
            return
        try:
            finished = _finish(ctx, lease, outcome)
        finally:
            ctx.heartbeats.release(lease.token)
        then(finished)
    finally:
        ctx.finishes.ended()


def _finished(
    ctx: EngineContext, spec: TaskSpec, lease: Lease, outcome: Outcome, finished: bool
) -> None:
    """What follows a finish's commit: the breakers' count, and the log."""
    if not finished:
        log.warning("task %s %s: lost its lease; outcome dropped", spec.name, lease.task_id)
        return
    _report_to_breakers(ctx, spec, outcome)
    if outcome.status is not TaskStatus.SUCCESS:
        log.warning(
            "task %s %s %s: %s: %s",
            spec.name,
            lease.task_id,
            outcome.status.value,
            outcome.error_type,
            outcome.error_message,
        )


def _report_to_breakers(ctx: EngineContext, spec: TaskSpec, outcome: Outcome) -> None:
    """Tell the breakers this task needs how the dependency fared, in its own transaction.

    Only failures that say something about a dependency count (transient errors, timeouts);
    a permanent error or an invalid result is the task's own fault and counts for nothing.
    """
    if not spec.options.needs and spec.name not in ctx.settings.flow.needs:
        return
    if outcome.status is TaskStatus.SUCCESS:
        success = True
    elif outcome.error_class in BREAKER_FAILURES:
        success = False
    else:
        return
    policy = FlowPolicy(ctx.settings, ctx.registry)
    try:
        FlowStore(ctx.store.db).record_outcome(policy.needs(spec), policy.breaker, success=success)
    except Exception as exc:  # the task's own outcome is recorded; a missed count is not fatal
        log.warning("task %s: breaker outcome not recorded: %s", spec.name, exc)


def _finish(ctx: EngineContext, lease: Lease, outcome: Outcome) -> bool:
    """Finish the attempt; a pipeline step's finish also releases the steps it unblocks,
    in the same transaction, and they are published right after the commit."""
    if lease.pipeline_run_id is None:
        return ctx.store.finish(lease, outcome)
    finished, changed = ctx.pipelines.finish_step(lease, outcome)
    apply_changes(ctx.store, ctx.publisher, changed)
    return finished


def claim(
    ctx: EngineContext,
    spec: TaskSpec,
    task_id: str,
    queue: str | None,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    step: bool = False,
) -> Lease | None:
    """The attempt's lease (a step's start recorded with it), or None if not claimable. A
    message without a record (a plain Celery client's) gets one first."""
    worker = ctx.worker_name()
    lease = _claim_carrying_finishes(ctx, task_id, worker, step)
    if lease is not None:
        return lease
    new = NewTask(
        id=task_id,
        name=spec.name,
        args=list(args),
        kwargs=dict(kwargs),
        queue=queue or ctx.settings.tasks.default_queue,
        max_attempts=spec.options.max_attempts or ctx.settings.tasks.max_attempts,
    )
    if ctx.store.adopt(new, message=ADOPTED):
        return ctx.store.claim(task_id, worker)
    return None


def _claim_carrying_finishes(
    ctx: EngineContext, task_id: str, worker: str, step: bool
) -> Lease | None:
    """The claim, carrying this process's waiting finish in its statement when it can (one
    finish, not a step's message; finishes wait only on PostgreSQL); other waiting
    finishes are written first. A finish the combined statement could not write (not an
    outage) is written alone."""
    ctx.finishes.claiming()
    riding = ctx.finishes.take()
    if len(riding) == 1 and not step:
        try:
            held, lease = ctx.pipelines.finish_then_claim(riding[0].transition, task_id, worker)
        except Unavailable:
            ctx.finishes.give_back(riding)
            raise
        except Exception:
            log.exception("task %s: its claim could not carry a finish", task_id)
            ctx.finishes.write_now(riding)
        else:
            ctx.finishes.done(riding, [held])
            return lease or ctx.pipelines.claim(task_id, worker, step_first=True)
    elif riding:
        ctx.finishes.write_now(riding)
    return ctx.pipelines.claim(task_id, worker, step_first=step)


def execute(
    ctx: EngineContext,
    spec: TaskSpec,
    lease: Lease,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Outcome:
    task = RunningTask(lease.task_id, spec.name, lease.attempt, lease.max_attempts, ctx.effects)
    try:
        with running(task):
            value = spec.func(*args, **kwargs)
    except Exception as exc:
        return failure_outcome(spec, lease, exc)
    return result_outcome(value, ctx.settings.tasks.max_result_bytes)


def failure_outcome(spec: TaskSpec, lease: Lease, exc: Exception) -> Outcome:
    """Transient failures retry while attempts remain (then the task is dead); others fail."""
    status, error_class, delay = TaskStatus.FAILURE, ErrorClass.PERMANENT, None
    timed_out = isinstance(exc, SoftTimeLimitExceeded)
    if timed_out or spec.options.is_transient(exc):
        error_class = ErrorClass.TIMEOUT if timed_out else ErrorClass.TRANSIENT
        if lease.last:
            status = TaskStatus.DEAD
        else:
            status = TaskStatus.RETRYING
            asked = exc.after if isinstance(exc, Retry) else None
            delay = asked if asked is not None else _backoff(spec, lease).delay(lease.attempt)
    return Outcome(
        status,
        error_class=error_class,
        error_type=type(exc).__name__,
        error_message=_storable(str(exc) or type(exc).__name__),
        error_traceback=_storable(traceback.format_exc()),
        retry_in=delay,
    )


def _storable(text: str) -> str:
    """Error text as the database can hold it: PostgreSQL refuses NUL in text."""
    return text.replace("\x00", "\\x00")


def _backoff(spec: TaskSpec, lease: Lease) -> Backoff:
    """The submit's backoff where it chose one, else the task's."""
    base, cap = spec.options.backoff_base, spec.options.backoff_cap
    return Backoff(lease.backoff_base or base, lease.backoff_cap or cap)


def result_outcome(value: Any, limit: int) -> Outcome:
    """Results are JSON and bounded; anything else fails the task with the reason."""
    try:
        encoded = jsoncodec.dumps(value)
    except TypeError as exc:
        return _invalid(f"the result is not JSON: {exc}")
    if len(encoded) > limit:
        return _invalid(f"the result is {len(encoded)} bytes; the limit is {limit}")
    return Outcome(TaskStatus.SUCCESS, result=jsoncodec.loads(encoded))


def _invalid(message: str) -> Outcome:
    return Outcome(
        TaskStatus.FAILURE,
        error_class=ErrorClass.INVALID_RESULT,
        error_type="InvalidResult",
        error_message=message,
    )
