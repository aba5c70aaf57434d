"""A pipeline step starts in its task's claim: one transaction, stamped with the claim's time,
taking the run's lock before the task's like every other writer of a run."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import select, text

from corehub.pipelines import Pipeline, Step
from corehub.service.pipelines import PipelineService
from corehub.store import Database, NewTask, Outcome, TaskStatus, TaskStore
from corehub.store.models import steps_table as st
from corehub.store.models import tasks_table as t
from corehub.store.pipelines import PipelineStore
from tests.unit.test_pipelines import DIAMOND, _define, _hub, _steps, _task_of

CHAIN = Pipeline(
    "labelled",
    steps=(
        Step("first", "p.add", label="adding"),
        Step("second", "p.take", after=("first",), label="taking"),
    ),
)


@pytest.fixture
def hub(db: Database, tmp_path: Path) -> PipelineService:
    return _hub(db, tmp_path)


def _started_at(db: Database, task_id: str) -> tuple[Any, Any]:
    """(the task's started_at, its step's started_at)."""
    with db.read() as conn:
        row = conn.execute(
            select(t.c.started_at, st.c.started_at.label("step_started_at"))
            .join(st, st.c.task_id == t.c.id)
            .where(t.c.id == task_id)
        ).one()
    return row.started_at, row.step_started_at


def _finish(hub: PipelineService, lease: Any, result: Any = None) -> None:
    assert hub.store.finish_step(lease, Outcome(TaskStatus.SUCCESS, result=result))[0]


@pytest.mark.parametrize("step_first", [False, True])
def test_a_step_starts_in_its_claim_with_the_claims_time(
    hub: PipelineService, step_first: bool
) -> None:
    _define(hub, CHAIN)
    run = hub.start("labelled", {"a": 2, "b": 3})
    first = _task_of(hub, run.id, "first")
    lease = hub.store.claim(first, "w", step_first=step_first)
    assert lease is not None and (lease.pipeline_run_id, lease.step) == (run.id, "first")
    task_started, step_started = _started_at(hub.store.db, first)
    started = hub.get_run(run.id)
    assert task_started is not None and step_started == task_started
    assert (started.status, started.state, started.started_at) == (
        "running",
        "adding",
        task_started,
    )
    _finish(hub, lease, 5)
    second = _task_of(hub, run.id, "second")
    again = hub.store.claim(second, "w", step_first=step_first)
    assert again is not None
    _finish(hub, again)
    done = hub.get_run(run.id)
    assert (done.status, done.started_at) == ("completed", task_started)  # the first start
    events = [(e.type, e.step, e.from_status, e.to_status) for e in hub.events(run.id)]
    assert events == [
        ("received", None, None, "received"),
        ("step_released", "first", "pending", "queued"),
        ("running", None, "received", "running"),
        ("step_started", "first", "queued", "running"),
        ("state", "first", None, "adding"),
        ("step_success", "first", None, "success"),
        ("step_released", "second", "pending", "queued"),
        ("step_started", "second", "queued", "running"),
        ("state", "second", None, "taking"),
        ("step_success", "second", None, "success"),
        ("completed", None, None, "completed"),
    ]
    started_event = next(e for e in hub.events(run.id) if e.type == "step_started")
    assert started_event.data == {"task_id": first, "attempt": 1}
    assert started_event.created_at == task_started


@pytest.mark.parametrize("step_first", [False, True])
def test_a_task_outside_pipelines_claims_once_either_way(
    hub: PipelineService, step_first: bool
) -> None:
    store = hub.tasks.store
    (task,) = store.create([NewTask(name="p.add", queue="q")])
    lease = hub.store.claim(task.id, "w", step_first=step_first)
    assert lease is not None and (lease.attempt, lease.pipeline_run_id) == (1, None)
    assert hub.store.claim(task.id, "w", step_first=step_first) is None
    assert hub.store.claim("no-such-task", "w", step_first=step_first) is None
    assert [e.type for e in store.events(task.id)] == ["queued", "started"]


def test_the_plain_claim_leaves_steps_to_the_step_claim(hub: PipelineService) -> None:
    _define(hub, DIAMOND)
    run = hub.start("diamond", {"x": 1})
    a = _task_of(hub, run.id, "a")
    (task,) = hub.tasks.store.create([NewTask(name="p.add", queue="q")])
    plain = hub.tasks.store.transitions.claim_unless_step
    assert plain(a, "token", "w") is None
    assert _steps(hub, run.id)["a"] == "queued"
    lease = plain(task.id, "token", "w")
    assert lease is not None and lease.token == "token"


def test_a_step_claims_once(hub: PipelineService) -> None:
    _define(hub, DIAMOND)
    run = hub.start("diamond", {"x": 1})
    a = _task_of(hub, run.id, "a")
    assert hub.store.claim(a, "w") is not None
    assert hub.store.claim(a, "w") is None
    assert hub.store.claim(a, "w", step_first=True) is None
    assert [e.type for e in hub.events(run.id)].count("step_started") == 1


def test_a_requeued_step_is_claimed_again_without_starting_again(hub: PipelineService) -> None:
    _define(hub, DIAMOND)
    run = hub.start("diamond", {"x": 1})
    a = _task_of(hub, run.id, "a")
    first = hub.store.claim(a, "w")
    assert first is not None
    hub.tasks.store.requeue_orphans("worker lost")
    second = hub.store.claim(a, "w")
    assert second is not None and second.attempt == 2
    task_started, step_started = _started_at(hub.store.db, a)
    assert step_started is not None and step_started < task_started  # the first attempt's
    assert [e.type for e in hub.events(run.id)].count("step_started") == 1
    _finish(hub, second, 1)
    assert _steps(hub, run.id) == {"a": "success", "b": "queued", "c": "queued", "d": "pending"}


def test_a_cancelled_runs_step_is_not_claimable(hub: PipelineService) -> None:
    _define(hub, DIAMOND)
    run = hub.start("diamond", {"x": 1})
    a = _task_of(hub, run.id, "a")
    hub.cancel(run.id)
    assert hub.store.claim(a, "w") is None
    assert hub.store.claim(a, "w", step_first=True) is None
    assert _steps(hub, run.id)["a"] == "cancelled"


# -- PostgreSQL: the lock order, with writers truly at once ----------------------------------


@pytest.fixture
def pg_hub(pg_database: Database, tmp_path: Path) -> PipelineService:
    TaskStore(pg_database).delete_all()
    hub = _hub(pg_database, tmp_path)
    _define(hub, DIAMOND)
    return hub


def _in_thread(work: Any) -> tuple[threading.Thread, dict[str, Any]]:
    """Run `work()` in a thread; the dict gets its result or its exception."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = work()
        except Exception as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


@pytest.mark.servers
def test_a_claim_is_one_statement_on_postgresql(
    pg_hub: PipelineService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A task outside pipelines keeps its one-statement claim; a step's claim and start are
    one statement too, after a missed plain claim unless its message said it is a step.
    Counted at the driver: hot statements bypass SQLAlchemy's execution events."""
    sent: list[str] = []
    execute = psycopg.Cursor.execute

    def count(cursor: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(str(query))
        return execute(cursor, query, *args, **kwargs)

    (task,) = pg_hub.tasks.store.create([NewTask(name="p.add", queue="q")])
    run = pg_hub.start("diamond", {"x": 1})
    _finish(pg_hub, pg_hub.store.claim(_task_of(pg_hub, run.id, "a"), "w"), 1)
    b, c = (_task_of(pg_hub, run.id, step) for step in ("b", "c"))
    monkeypatch.setattr(psycopg.Cursor, "execute", count)
    counts = []
    for task_id, step_first in ((task.id, False), (b, True), (c, False)):
        sent.clear()
        assert pg_hub.store.claim(task_id, "w", step_first=step_first) is not None
        counts.append(len(sent))
    monkeypatch.undo()
    assert counts == [1, 1, 2]
    assert _steps(pg_hub, run.id) == {
        "a": "success",
        "b": "running",
        "c": "running",
        "d": "pending",
    }


@pytest.mark.servers
def test_a_step_claim_waits_for_the_run_before_touching_its_task(
    pg_hub: PipelineService,
) -> None:
    """While another transaction holds the run, the claim waits holding nothing: the task's
    row stays free to lock (a claim that locked the task first would hold it)."""
    db = pg_hub.store.db
    run = pg_hub.start("diamond", {"x": 1})
    a = _task_of(pg_hub, run.id, "a")
    with db.engine.connect() as holder:
        holder.execute(
            text("SELECT id FROM pipeline_runs WHERE id = :id FOR UPDATE"), {"id": run.id}
        )
        thread, outcome = _in_thread(lambda: pg_hub.store.claim(a, "w", step_first=True))
        time.sleep(0.3)
        assert thread.is_alive(), outcome  # waiting for the run
        with db.engine.connect() as probe:
            probe.execute(text("SET lock_timeout = '200ms'"))
            locked = probe.execute(
                text("SELECT status FROM tasks WHERE id = :id FOR UPDATE NOWAIT"), {"id": a}
            ).scalar_one()
            probe.rollback()
        assert locked == "queued"
        holder.rollback()
    thread.join(10)
    assert "error" not in outcome and outcome["result"] is not None
    assert _steps(pg_hub, run.id)["a"] == "running"


@pytest.mark.servers
@pytest.mark.parametrize("step_first", [False, True])
def test_a_cancel_racing_a_step_claim_waits_instead_of_deadlocking(
    pg_hub: PipelineService, monkeypatch: pytest.MonkeyPatch, step_first: bool
) -> None:
    """The cancel holds the run and pauses before it cancels the step's task; the claim
    arriving meanwhile waits for the run, so the cancel's task write does not wait on it."""
    run = pg_hub.start("diamond", {"x": 1})
    a = _task_of(pg_hub, run.id, "a")
    stop_steps = PipelineStore._stop_steps

    def slow_stop_steps(self: PipelineStore, *args: Any) -> list[str]:
        time.sleep(0.5)
        return stop_steps(self, *args)

    monkeypatch.setattr(PipelineStore, "_stop_steps", slow_stop_steps)
    cancelling, cancelled = _in_thread(lambda: pg_hub.store.cancel(run.id))
    time.sleep(0.2)
    claiming, claimed = _in_thread(lambda: pg_hub.store.claim(a, "w", step_first=step_first))
    cancelling.join(10)
    claiming.join(10)
    assert (cancelled, claimed) == ({"result": []}, {"result": None})
    assert (pg_hub.get_run(run.id).status, _steps(pg_hub, run.id)["a"]) == (
        "cancelled",
        "cancelled",
    )
    assert pg_hub.tasks.store.get(a).status == "cancelled"  # type: ignore[union-attr]


@pytest.mark.servers
def test_a_finish_and_a_siblings_claim_at_once_both_land(pg_hub: PipelineService) -> None:
    """b finishing and c being claimed lock the same run; both land, in either order."""
    for _ in range(10):
        run = pg_hub.start("diamond", {"x": 1})
        a = pg_hub.store.claim(_task_of(pg_hub, run.id, "a"), "w")
        assert a is not None
        _finish(pg_hub, a, 1)
        b = pg_hub.store.claim(_task_of(pg_hub, run.id, "b"), "w")
        assert b is not None
        c = _task_of(pg_hub, run.id, "c")
        barrier = threading.Barrier(2)

        def finish_b(barrier: threading.Barrier = barrier, b: Any = b) -> Any:
            barrier.wait()
            return pg_hub.store.finish_step(b, Outcome(TaskStatus.SUCCESS, result=1))[0]

        def claim_c(barrier: threading.Barrier = barrier, c: str = c) -> Any:
            barrier.wait()
            return pg_hub.store.claim(c, "w", step_first=True)

        finishing, finished = _in_thread(finish_b)
        claiming, claimed = _in_thread(claim_c)
        finishing.join(10)
        claiming.join(10)
        assert finished == {"result": True} and claimed["result"] is not None, claimed
        assert _steps(pg_hub, run.id) == {
            "a": "success",
            "b": "success",
            "c": "running",
            "d": "pending",
        }
