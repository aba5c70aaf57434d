"""A pool process's finishes wait for its next claim, and are written alone when none comes:
each exactly once, its lease held until then, and not lost to a database outage."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from celery import signals

from corehub.config import Settings
from corehub.config.settings import BrokerSettings, DatabaseSettings
from corehub.engine import EngineContext, create_celery
from corehub.engine import finishes as finishes_module
from corehub.engine.execution import run_delivery
from corehub.engine.finishes import PendingFinishes
from corehub.engine.heartbeat import Heartbeats
from corehub.errors import Unavailable
from corehub.registry import Registry
from corehub.registry.specs import TaskOptions, TaskSpec, describe
from corehub.store import Database, Lease, NewTask, Outcome, TaskStatus, TaskStore
from corehub.store.pipelines import PipelineStore
from tests.unit.helpers import wait_for

S = TaskStatus


@pytest.fixture
def store(db: Database) -> TaskStore:
    return TaskStore(db)


def _started(store: TaskStore) -> Lease:
    (task,) = store.create([NewTask("core.noop", "q")])
    lease = store.claim(task.id, "w")
    assert lease is not None
    return lease


def _pending(store: TaskStore, delay: float) -> tuple[PendingFinishes, Heartbeats]:
    heartbeats = Heartbeats(store.attempts, interval=60)
    return _busy(PendingFinishes(store, heartbeats, delay=delay)), heartbeats


def _busy(pending: PendingFinishes) -> PendingFinishes:
    """As in a process whose claim just followed the delivery before: a finish put waits."""
    pending.ended()
    pending.claiming()
    return pending


def _held(heartbeats: Heartbeats) -> set[str]:
    return set(heartbeats._tokens)


def _successes(store: TaskStore, task_id: str) -> int:
    return sum(1 for e in store.events(task_id) if e.to_status == "success")


def test_a_finish_no_claim_takes_is_written_after_the_delay(store: TaskStore) -> None:
    pending, heartbeats = _pending(store, delay=0.3)
    lease = _started(store)
    heartbeats.hold(lease.token)
    told = threading.Event()
    held: list[bool] = []

    def then(ok: bool) -> None:
        held.append(ok)
        told.set()

    pending.put(lease, Outcome(S.SUCCESS, result=7), then)
    row = store.get(lease.task_id)
    assert row is not None and row.status is S.STARTED  # not before the delay
    assert told.wait(5)
    row = store.get(lease.task_id)
    assert row is not None and (row.status, row.result) == (S.SUCCESS, 7)
    assert held == [True] and _held(heartbeats) == set()
    assert _successes(store, lease.task_id) == 1


@pytest.mark.servers
def test_a_finish_a_claim_takes_is_written_once(pg_database: Database) -> None:
    store = TaskStore(pg_database)
    pending, heartbeats = _pending(store, delay=0.3)
    pipelines = PipelineStore(store)
    lease = _started(store)
    heartbeats.hold(lease.token)
    told: list[bool] = []
    pending.put(lease, Outcome(S.SUCCESS), told.append)
    (next_task,) = store.create([NewTask("core.noop", "q")])
    riding = pending.take()
    held, claimed = pipelines.finish_then_claim(riding[0].transition, next_task.id, "w")
    pending.done(riding, [held])
    pending.flush()
    time.sleep(0.8)  # past the delay: a second write would be refused, with a fenced event
    assert claimed is not None and told == [True] and _held(heartbeats) == set()
    events = [e.type for e in store.events(lease.task_id)]
    assert events.count("success") == 1 and "fenced" not in events


def test_flush_writes_what_waits_at_once(store: TaskStore) -> None:
    pending, heartbeats = _pending(store, delay=60)
    leases = [_started(store) for _ in range(3)]
    for lease in leases:
        heartbeats.hold(lease.token)
        pending.put(lease, Outcome(S.SUCCESS), lambda ok: None)
    pending.flush()
    rows = [store.get(lease.task_id) for lease in leases]
    assert [row and row.status for row in rows] == [S.SUCCESS] * 3
    assert _held(heartbeats) == set()


def test_a_finish_waits_out_a_database_outage(
    store: TaskStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first write finds the database gone: the finish waits again, its lease still
    held, and the next write records it."""
    monkeypatch.setattr(finishes_module, "RETRY_PAUSE", 0.05)
    pending, heartbeats = _pending(store, delay=0.01)
    real = store.transitions.finish_many
    calls: list[int] = []

    def failing_once(finishes: Sequence[tuple[Lease, Outcome]]) -> Any:
        calls.append(len(finishes))
        if len(calls) == 1:
            assert _held(heartbeats) == {lease.token}
            raise Unavailable("the database is unavailable (OperationalError)")
        return real(finishes)

    monkeypatch.setattr(store.transitions, "finish_many", failing_once)
    lease = _started(store)
    heartbeats.hold(lease.token)
    pending.put(lease, Outcome(S.SUCCESS), lambda ok: None)
    assert wait_for(lambda: _held(heartbeats) == set(), timeout=5)
    row = store.get(lease.task_id)
    assert row is not None and row.status is S.SUCCESS and calls == [1, 1]


@pytest.fixture
def contexts() -> Iterator[Callable[[Database], EngineContext]]:
    """Engine contexts on a database, their finishes written and their shutdown receivers
    disconnected at the test's end (a later test's signal must not reach them)."""
    made: list[EngineContext] = []

    def make(db: Database) -> EngineContext:
        settings = Settings(
            database=DatabaseSettings(url=str(db.url)), broker=BrokerSettings(url="memory://")
        )
        ctx = EngineContext(settings, Registry(), TaskStore(db))
        create_celery(ctx)  # connects the shutdown signals
        ctx.finishes.delay = 60.0  # nothing is written by the thread within a test
        _busy(ctx.finishes)  # until a delivery's claim says otherwise
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        ctx.finishes.flush()  # nothing left waiting, no lease left beating
        signals.worker_process_shutdown.disconnect(ctx.finishes.flush)
        signals.worker_shutdown.disconnect(ctx.finishes.flush)


def _adds(ctx: EngineContext, count: int) -> tuple[TaskSpec, list[str]]:
    spec = describe("m", "add", lambda a, b: a + b, TaskOptions())
    return spec, [
        task.id for task in ctx.store.create([NewTask("m.add", "q") for _ in range(count)])
    ]


def _state(ctx: EngineContext, task_ids: Sequence[str]) -> list[tuple[TaskStatus, Any] | None]:
    rows = [ctx.store.get(task_id) for task_id in task_ids]
    return [row and (row.status, row.result) for row in rows]


def test_a_busy_process_outcome_waits_for_the_next_claim_on_postgresql(
    db: Database, contexts: Callable[[Database], EngineContext]
) -> None:
    """Once a claim came soon after the delivery before it returned, a task's outcome waits
    until the process's next delivery claims (PostgreSQL), which writes it in its own
    statement; on SQLite every outcome is written before the delivery returns."""
    ctx = contexts(db)
    ctx.finishes.idle_gap = 60.0  # every claim comes soon enough
    spec, (first, second, third) = _adds(ctx, 3)
    run_delivery(ctx, spec, first, "q", (0, 1), {})  # the fixture's process is busy
    after_first = _state(ctx, [first])
    run_delivery(ctx, spec, second, "q", (1, 1), {})
    after_second = _state(ctx, [first, second])
    run_delivery(ctx, spec, third, "q", (2, 1), {})
    after_third = _state(ctx, [second, third])
    waiting = (S.STARTED, None)
    assert after_first == [(S.SUCCESS, 1) if db.is_sqlite else waiting]
    assert after_second == [(S.SUCCESS, 1), (S.SUCCESS, 2) if db.is_sqlite else waiting]
    assert after_third == [(S.SUCCESS, 2), (S.SUCCESS, 3) if db.is_sqlite else waiting]


def test_an_idle_process_outcome_is_written_without_waiting_for_a_claim(
    db: Database, contexts: Callable[[Database], EngineContext]
) -> None:
    """Claims that come later than `idle_gap` after the delivery before: each outcome is
    written at once (on PostgreSQL by the process's thread, beside the next task), not after
    the thread's wait for a claim (60 s here), so an idle worker's results show as soon as
    they are known."""
    ctx = contexts(db)
    ctx.finishes.idle_gap = 0.05
    spec, task_ids = _adds(ctx, 3)
    for n, task_id in enumerate(task_ids):
        time.sleep(0.1)
        run_delivery(ctx, spec, task_id, "q", (n, 1), {})
        assert wait_for(lambda: _state(ctx, [task_id]) == [(S.SUCCESS, n + 1)], timeout=5)  # noqa: B023
    assert ctx.finishes.take() == []


@pytest.mark.parametrize("signal", [signals.worker_process_shutdown, signals.worker_shutdown])
def test_a_process_end_writes_the_waiting_finishes(
    db: Database, signal: Any, contexts: Callable[[Database], EngineContext]
) -> None:
    ctx = contexts(db)
    lease = _started(ctx.store)
    ctx.finishes.put(lease, Outcome(S.SUCCESS), lambda ok: None)
    signal.send(sender=None, pid=os.getpid(), exitcode=0)
    row = ctx.store.get(lease.task_id)
    assert row is not None and row.status is S.SUCCESS


@pytest.mark.servers
def test_a_finish_that_cannot_be_written_does_not_stop_the_next_claim(
    pg_database: Database, contexts: Callable[[Database], EngineContext]
) -> None:
    """PostgreSQL refuses NUL in text: the finish carrying one fails alone (dropped, its
    lease let go for the rescue) and the delivery that would have carried it still runs."""
    TaskStore(pg_database).delete_all()
    ctx = contexts(pg_database)
    ctx.finishes.idle_gap = 0.0  # the delivery's claim finds the process idle, however soon
    bad = _started(ctx.store)
    ctx.heartbeats.hold(bad.token)
    ctx.finishes.put(bad, Outcome(S.FAILURE, error_message="nul \x00 here"), lambda ok: None)
    spec = describe("m", "add", lambda a, b: a + b, TaskOptions())
    (task,) = ctx.store.create([NewTask("m.add", "q")])
    run_delivery(ctx, spec, task.id, "q", (1, 2), {})
    # Its own outcome is written at once (the process is idle), by the process's thread.
    assert wait_for(lambda: _state(ctx, [task.id]) == [(S.SUCCESS, 3)], timeout=5)
    bad_row, row = ctx.store.get(bad.task_id), ctx.store.get(task.id)
    assert bad_row is not None and bad_row.status is S.STARTED
    assert row is not None and row.attempt == 1
    assert bad.token not in _held(ctx.heartbeats)


def test_error_text_with_nul_is_stored(
    db: Database, contexts: Callable[[Database], EngineContext]
) -> None:
    ctx = contexts(db)

    def broken() -> None:
        raise ValueError("nul \x00 here")

    ctx.finishes.idle_gap = 60.0  # every claim comes soon enough
    spec = describe("m", "broken", broken, TaskOptions())
    warm, first, second = ctx.store.create([NewTask("m.broken", "q") for _ in range(3)])
    run_delivery(ctx, spec, warm.id, "q", (), {})  # the process's first: written at once
    run_delivery(ctx, spec, first.id, "q", (), {})  # waits on PostgreSQL
    waiting = ctx.store.get(first.id)
    assert waiting is not None and waiting.status is (S.FAILURE if db.is_sqlite else S.STARTED)
    run_delivery(ctx, spec, second.id, "q", (), {})  # carries the first's finish
    row = ctx.store.get(first.id)
    assert row is not None and row.status is S.FAILURE
    assert row.error_message == "nul \\x00 here"
