"""Pipeline runs as a state machine: DAG shapes, failure policies, rerun, cancel, fan-in
races. Steps are driven by hand through the same claim and finish a worker uses."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from corehub.config import Settings
from corehub.errors import Conflict, InvalidInput
from corehub.pipelines import FailurePolicy, Pipeline, Step, StepOptions
from corehub.registry import Registry
from corehub.service.flow import FlowPolicy, release_gate
from corehub.service.pipelines import PipelineService
from corehub.service.tasks import TaskService
from corehub.store import Database, ErrorClass, Outcome, TaskRecord, TaskStatus, TaskStore
from corehub.store.pipelines import PipelineStore
from corehub.store.transitions import Transitions


def _add(a: int = 0, b: int = 0) -> int:
    return a + b


def _value(x: int = 1) -> int:
    return x


def _take(**parents: Any) -> dict[str, Any]:
    return parents


@pytest.fixture
def hub(db: Database, tmp_path: Path) -> PipelineService:
    return _hub(db, tmp_path)


def _hub(db: Database, tmp_path: Path) -> PipelineService:
    registry = Registry()
    registry.register_task("p", "add", _add)
    registry.register_task("p", "value", _value)
    registry.register_task("p", "take", _take)
    registry.register_task(
        "p", "keyed", _take, concurrency=2, concurrency_key=lambda kw: f"repo-{kw['a']['x']}"
    )
    store = TaskStore(db)
    settings = Settings(data_dir=tmp_path)
    tasks = TaskService(store, registry, None, settings)
    gate = release_gate(FlowPolicy(settings, registry))
    return PipelineService(PipelineStore(store, gate=gate), registry, tasks, None)


def _run_step(
    hub: PipelineService, task_id: str, result: Any = None, *, fail: bool = False
) -> list[TaskRecord]:
    """Claim, start and finish one step task as a worker would; returns what it released."""
    lease = hub.store.claim(task_id, "w")  # the worker's claim: the step starts with it
    assert lease is not None, f"task {task_id} not claimable"
    outcome = (
        Outcome(
            TaskStatus.FAILURE,
            error_class=ErrorClass.PERMANENT,
            error_type="E",
            error_message="boom",
        )
        if fail
        else Outcome(TaskStatus.SUCCESS, result=result)
    )
    finished, changed = hub.store.finish_step(lease, outcome)
    assert finished
    return changed.publish


def _steps(hub: PipelineService, run_id: str) -> dict[str, str]:
    return {s.name: s.status for s in hub.get_run(run_id).steps}


def _task_of(hub: PipelineService, run_id: str, step: str) -> str:
    task_id = next(s.task_id for s in hub.get_run(run_id).steps if s.name == step)
    assert task_id is not None
    return task_id


def _define(hub: PipelineService, pipeline: Pipeline) -> None:
    hub.registry.register_pipeline(pipeline)


DIAMOND = Pipeline(
    "diamond",
    steps=(
        Step("a", "p.value"),
        Step("b", "p.take", after=("a",)),
        Step("c", "p.take", after=("a",)),
        Step("d", "p.take", after=("b", "c")),
    ),
)


def test_a_chain_passes_results_by_name_and_names_its_states(hub: PipelineService) -> None:
    _define(
        hub,
        Pipeline(
            "chain",
            steps=(
                Step("first", "p.add", label="adding"),
                Step("second", "p.take", after=("first",), label="taking"),
            ),
        ),
    )
    run = hub.start("chain", {"a": 2, "b": 3})
    assert (run.status, run.state, _steps(hub, run.id)) == (
        "received",
        "received",
        {"first": "queued", "second": "pending"},
    )
    first = _task_of(hub, run.id, "first")
    assert hub.tasks.store.get(first).kwargs == {"a": 2, "b": 3}  # type: ignore[union-attr]
    lease = hub.store.claim(first, "w")
    assert lease is not None
    assert (hub.get_run(run.id).status, hub.get_run(run.id).state) == ("running", "adding")
    hub.store.finish_step(lease, Outcome(TaskStatus.SUCCESS, result=5))
    second = _task_of(hub, run.id, "second")
    assert hub.tasks.store.get(second).kwargs == {"first": 5}  # type: ignore[union-attr]
    _run_step(hub, second, {"ok": True})
    done = hub.get_run(run.id)
    assert (done.status, done.state, done.finished_at is not None) == (
        "completed",
        "completed",
        True,
    )
    types = [e.type for e in hub.events(run.id)]
    assert types == [
        "received",
        "step_released",
        "running",
        "step_started",
        "state",
        "step_success",
        "step_released",
        "step_started",
        "state",
        "step_success",
        "completed",
    ]


def test_a_diamond_joins_once_with_both_results(hub: PipelineService) -> None:
    _define(hub, DIAMOND)
    run = hub.start("diamond", {"x": 7})
    released = _run_step(hub, _task_of(hub, run.id, "a"), 7)
    assert sorted(t.step or "" for t in released) == ["b", "c"]
    assert _run_step(hub, _task_of(hub, run.id, "b"), "B") == []
    assert _steps(hub, run.id)["d"] == "pending"
    (d,) = _run_step(hub, _task_of(hub, run.id, "c"), "C")
    assert (d.step, d.kwargs) == ("d", {"b": "B", "c": "C"})
    _run_step(hub, d.id, "D")
    assert hub.get_run(run.id).status == "completed"


def test_a_wide_fan_out_of_100_joins_once(hub: PipelineService) -> None:
    leaves = tuple(Step(f"leaf{i}", "p.take", after=("root",)) for i in range(100))
    _define(
        hub,
        Pipeline(
            "wide",
            steps=(
                Step("root", "p.value"),
                *leaves,
                Step("join", "p.take", after=tuple(s.name for s in leaves)),
            ),
        ),
    )
    run = hub.start("wide", {"x": 1})
    released = _run_step(hub, _task_of(hub, run.id, "root"), 1)
    assert len(released) == 100
    joins = [t for leaf in released for t in _run_step(hub, leaf.id, 1)]
    assert [t.step for t in joins] == ["join"] and len(joins[0].kwargs) == 100
    _run_step(hub, joins[0].id, 100)
    assert hub.get_run(run.id).status == "completed"


def test_fail_fast_fails_the_run_and_cancels_the_rest(hub: PipelineService) -> None:
    _define(hub, DIAMOND)
    run = hub.start("diamond", {"x": 1})
    _run_step(hub, _task_of(hub, run.id, "a"), 1)
    c_task = _task_of(hub, run.id, "c")
    _run_step(hub, _task_of(hub, run.id, "b"), fail=True)
    after = hub.get_run(run.id)
    assert (after.status, _steps(hub, run.id)) == (
        "failed",
        {"a": "success", "b": "failed", "c": "cancelled", "d": "cancelled"},
    )
    assert hub.tasks.store.get(c_task).status == "cancelled"  # type: ignore[union-attr]
    assert hub.tasks.store.claim(c_task, "w") is None


def test_continue_lets_independent_branches_finish(hub: PipelineService) -> None:
    _define(hub, Pipeline("diamond-c", steps=DIAMOND.steps, failure_policy=FailurePolicy.CONTINUE))
    run = hub.start("diamond-c", {"x": 1})
    _run_step(hub, _task_of(hub, run.id, "a"), 1)
    _run_step(hub, _task_of(hub, run.id, "b"), fail=True)
    assert (hub.get_run(run.id).status, _steps(hub, run.id)) == (
        "running",
        {"a": "success", "b": "failed", "c": "queued", "d": "skipped"},
    )
    _run_step(hub, _task_of(hub, run.id, "c"), "C")
    assert (hub.get_run(run.id).status, _steps(hub, run.id)["c"]) == ("failed", "success")


def test_rerun_starts_from_the_failed_steps_and_keeps_the_results(hub: PipelineService) -> None:
    _define(hub, Pipeline("diamond-r", steps=DIAMOND.steps, failure_policy=FailurePolicy.CONTINUE))
    run = hub.start("diamond-r", {"x": 1})
    _run_step(hub, _task_of(hub, run.id, "a"), 1)
    a_task, failed_b = _task_of(hub, run.id, "a"), _task_of(hub, run.id, "b")
    _run_step(hub, failed_b, fail=True)
    c_task = _task_of(hub, run.id, "c")
    _run_step(hub, c_task, "C")
    assert hub.get_run(run.id).status == "failed"
    again = hub.rerun(run.id)
    assert (again.status, again.reruns, _steps(hub, run.id)) == (
        "running",
        1,
        {"a": "success", "b": "queued", "c": "success", "d": "pending"},
    )
    new_b = _task_of(hub, run.id, "b")
    assert new_b != failed_b and (_task_of(hub, run.id, "a"), _task_of(hub, run.id, "c")) == (
        a_task,
        c_task,
    )
    (d,) = _run_step(hub, new_b, "B")
    assert d.kwargs == {"b": "B", "c": "C"}
    _run_step(hub, d.id, "D")
    assert hub.get_run(run.id).status == "completed"
    with pytest.raises(Conflict):
        hub.rerun(run.id)


def test_cancel_stops_every_unfinished_step(hub: PipelineService) -> None:
    _define(hub, DIAMOND)
    run = hub.start("diamond", {"x": 1})
    a_task = _task_of(hub, run.id, "a")
    lease = hub.tasks.store.claim(a_task, "w")
    assert lease is not None
    hub.cancel(run.id)
    assert (hub.get_run(run.id).status, set(_steps(hub, run.id).values())) == (
        "cancelled",
        {"cancelled"},
    )
    finished, changed = hub.store.finish_step(lease, Outcome(TaskStatus.SUCCESS, result=1))
    assert (finished, changed.publish) == (False, [])
    with pytest.raises(Conflict):
        hub.cancel(run.id)


def test_a_step_task_that_died_elsewhere_is_swept_into_the_run(hub: PipelineService) -> None:
    _define(hub, DIAMOND)
    run = hub.start("diamond", {"x": 1})
    a_task = _task_of(hub, run.id, "a")
    hub.tasks.store.cancel(a_task, "cancelled as a task")
    assert hub.get_run(run.id).status == "received"
    hub.store.reconcile()
    assert (hub.get_run(run.id).status, _steps(hub, run.id)["a"]) == ("failed", "cancelled")


def test_step_options_override_the_task_options(hub: PipelineService) -> None:
    _define(
        hub,
        Pipeline(
            "opts",
            steps=(
                Step(
                    "a",
                    "p.value",
                    options=StepOptions(
                        queue="q1", priority="high", max_attempts=7, time_limit=9.0
                    ),
                ),
            ),
        ),
    )
    run = hub.start("opts", {"x": 1})
    task = hub.tasks.store.get(_task_of(hub, run.id, "a"))
    assert task is not None
    assert (task.queue, task.priority, task.max_attempts, task.time_limit) == ("q1", "high", 7, 9.0)


def _one_step(**step: Any) -> dict[str, Any]:
    return {"name": "x", "steps": [{"name": "a", "task": "p.value", **step}]}


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"name": "x", "steps": [{"name": "a", "task": "p.value", "after": ["a"]}]}, "cycle"),
        (
            {"name": "x", "steps": [{"name": "a", "task": "p.value", "after": ["zz"]}]},
            "unknown step",
        ),
        ({"name": "x", "steps": [{"name": "a", "task": "p.nope"}]}, "unknown task"),
        ({"name": "x", "steps": []}, "no steps"),
        (
            {"name": "x", "steps": [{"name": "a", "task": "p.value", "options": {"color": 1}}]},
            "unknown option",
        ),
        ({"steps": [{"name": "a", "task": "p.value"}]}, "missing: name"),
        ({"name": "x", "steps": [{"name": "a", "task": "p.value", "label": "l" * 33}]}, "label"),
        ({"name": "x", "steps": [{"name": "a", "task": "p.value", "label": 7}]}, "label"),
        (
            {
                "name": "x",
                "steps": [{"name": "a", "task": "p.value", "options": {"max_attempts": -5}}],
            },
            "max_attempts",
        ),
        (
            {
                "name": "x",
                "steps": [{"name": "a", "task": "p.value", "options": {"time_limit": "soon"}}],
            },
            "time_limit",
        ),
        (
            {
                "name": "x",
                "steps": [{"name": "a", "task": "p.value", "kwargs": {"when": {1, 2}}}],
            },
            "not JSON",
        ),
    ],
)
def test_bad_definitions_are_refused_with_the_reason(
    hub: PipelineService, spec: Any, problem: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        hub.define(spec)
    assert problem in caught.value.detail
    assert hub.store.definitions() == {}


def test_a_definition_sent_as_data_runs(hub: PipelineService) -> None:
    info, created = hub.define(
        {
            "name": "data",
            "steps": [
                {"name": "a", "task": "p.value"},
                {"name": "b", "task": "p.take", "after": "a"},
            ],
        }
    )
    assert created and info.source == "api"
    run = hub.start("data", {"x": 3})
    (b,) = _run_step(hub, _task_of(hub, run.id, "a"), 3)
    assert b.kwargs == {"a": 3}


def test_input_that_does_not_bind_is_refused_before_anything_is_stored(
    hub: PipelineService,
) -> None:
    _define(hub, DIAMOND)
    with pytest.raises(InvalidInput):
        hub.start("diamond", {"nope": 1})
    assert hub.list_runs(limit=10).items == []


@pytest.mark.servers
def test_parents_finishing_at_once_release_the_join_exactly_once(
    pg_database: Database, tmp_path: Path
) -> None:
    """PostgreSQL runs the two finishes truly at once (SQLite queues its writers)."""
    TaskStore(pg_database).delete_all()
    hub = _hub(pg_database, tmp_path)
    _define(hub, DIAMOND)
    for _ in range(10):
        run = hub.start("diamond", {"x": 1})
        _run_step(hub, _task_of(hub, run.id, "a"), 1)
        leases = [hub.tasks.store.claim(_task_of(hub, run.id, s), "w") for s in ("b", "c")]
        released: list[TaskRecord] = []
        barrier = threading.Barrier(2)

        def finish(
            lease: Any, barrier: threading.Barrier = barrier, released: list[Any] = released
        ) -> None:
            barrier.wait()
            released.extend(
                hub.store.finish_step(lease, Outcome(TaskStatus.SUCCESS, result=1))[1].publish
            )

        threads = [threading.Thread(target=finish, args=(lease,)) for lease in leases]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert [t.step for t in released] == ["d"]
        assert _steps(hub, run.id)["d"] == "queued"


@pytest.mark.servers
def test_a_cancel_racing_a_step_finish_waits_instead_of_deadlocking(
    pg_database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every writer of a run locks the run first; with the finish slowed down between its
    task write and the rest, a cancel arriving meanwhile must wait, not deadlock."""
    TaskStore(pg_database).delete_all()
    hub = _hub(pg_database, tmp_path)
    _define(hub, DIAMOND)
    run = hub.start("diamond", {"x": 1})
    lease = hub.store.claim(_task_of(hub, run.id, "a"), "w")
    assert lease is not None
    finish_in = Transitions.finish_in

    def slow_finish_in(self: Transitions, *args: Any) -> bool:
        done = finish_in(self, *args)
        time.sleep(0.5)
        return done

    monkeypatch.setattr(Transitions, "finish_in", slow_finish_in)
    outcomes: dict[str, Any] = {}

    def finish() -> None:
        outcomes["finish"] = hub.store.finish_step(lease, Outcome(TaskStatus.SUCCESS, result=1))[0]

    def cancel() -> None:
        time.sleep(0.2)
        try:
            outcomes["cancel"] = hub.store.cancel(run.id)
        except Exception as exc:
            outcomes["cancel"] = exc

    threads = [threading.Thread(target=finish), threading.Thread(target=cancel)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert (outcomes["finish"], isinstance(outcomes["cancel"], list)) == (True, True), outcomes
    assert (hub.get_run(run.id).status, _steps(hub, run.id)["a"]) == ("cancelled", "success")


def test_a_step_flow_key_is_computed_from_its_parents_results(hub: PipelineService) -> None:
    _define(
        hub,
        Pipeline("keyed", steps=(Step("a", "p.take"), Step("b", "p.keyed", after=("a",)))),
    )
    run = hub.start("keyed", {"x": 7})
    (b,) = _run_step(hub, _task_of(hub, run.id, "a"), {"x": 7})
    assert (b.status, b.gated, b.concurrency_key) == ("scheduled", True, "p.keyed:repo-7")
