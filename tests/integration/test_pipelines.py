"""Pipelines end to end on every backend combination: real workers release each step from
the finish of its parents, and the run reads as its pipeline names its states."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from tests.integration.hubs import Hub

REPOPAL_STATES = ["received", "processing", "dispatching", "executing", "processing_results"]


def _diamond(
    name: str, policy: str = "fail_fast", middle: str = "testkit.collect"
) -> dict[str, Any]:
    return {
        "name": name,
        "failure_policy": policy,
        "steps": [
            {"name": "a", "task": "testkit.collect"},
            {"name": "b", "task": middle, "after": ["a"]},
            {"name": "c", "task": "testkit.collect", "after": ["a"]},
            {"name": "d", "task": "testkit.collect", "after": ["b", "c"]},
        ],
    }


def test_the_repopal_pipeline_runs_through_its_named_states(hub: Hub) -> None:
    event = {
        "id": "e1",
        "source": "github",
        "type": "issue_comment",
        "subject": "octo/repo",
        "payload": {"comment": {"body": "/repopal wordcount one two three"}},
    }
    with hub.client() as client:
        run = client.run_pipeline("repopal.handle_event", {"event": event})
        done = client.wait_pipeline_run(run.run_id, timeout=60)
        events = client.pipeline_run_events(run.run_id)
    states = ["received"] + [e.to_status for e in events if e.type == "state"]
    assert (done.status, done.state, states) == ("completed", "completed", REPOPAL_STATES)
    assert done.steps[-1].result == {
        "repository": "octo/repo",
        "event_id": "e1",
        "reply": "wordcount: done: 3",
    }
    assert all(s.status == "success" and s.duration_seconds is not None for s in done.steps)


def test_a_diamond_joins_both_branches(hub: Hub) -> None:
    name = f"diamond-{uuid.uuid4().hex[:8]}"
    with hub.client() as client:
        client.define_pipeline(_diamond(name))
        run = client.run_pipeline(name, {"x": 1})
        done = client.wait_pipeline_run(run.run_id, timeout=60)
    d = next(s for s in done.steps if s.name == "d")
    assert (done.status, d.result) == ("completed", {"b": {"a": {"x": 1}}, "c": {"a": {"x": 1}}})


def test_a_failed_branch_fails_fast_and_a_rerun_completes_from_it(hub: Hub, tmp_path: Path) -> None:
    name = f"rerun-{uuid.uuid4().hex[:8]}"
    spec = _diamond(name, middle="testkit.fail_first")
    spec["steps"][1]["kwargs"] = {"path": str(tmp_path / f"{name}.marker")}
    with hub.client() as client:
        client.define_pipeline(spec)
        run = client.run_pipeline(name, {"x": 1})
        failed = client.wait_pipeline_run(run.run_id, timeout=60)
        statuses = {s.name: s.status for s in failed.steps}
        a_task = failed.steps[0].task_id
        client.rerun_pipeline_run(run.run_id)
        done = client.wait_pipeline_run(run.run_id, timeout=60)
    assert (failed.status, statuses["a"], statuses["b"], statuses["d"]) == (
        "failed",
        "success",
        "failed",
        "cancelled",
    )
    assert (done.status, done.reruns, done.steps[0].task_id) == ("completed", 1, a_task)


def test_a_fan_out_of_100_joins_once_with_every_result(hub: Hub) -> None:
    name = f"wide-{uuid.uuid4().hex[:8]}"
    leaves = [
        {"name": f"leaf{i}", "task": "testkit.collect", "after": ["root"]} for i in range(100)
    ]
    spec = {
        "name": name,
        "steps": [
            {"name": "root", "task": "testkit.collect"},
            *leaves,
            {"name": "join", "task": "testkit.collect", "after": [leaf["name"] for leaf in leaves]},
        ],
    }
    with hub.client() as client:
        client.define_pipeline(spec)
        run = client.run_pipeline(name, {"x": 1})
        done = client.wait_pipeline_run(run.run_id, timeout=120)
        events = client.pipeline_run_events(run.run_id)
    join = next(s for s in done.steps if s.name == "join")
    released = [e.step for e in events if e.type == "step_released"]
    assert (done.status, len(join.result or {}), released.count("join")) == ("completed", 100, 1)
    assert join.releases == 1 and len(released) == 102


def test_continue_lets_the_other_branch_finish_then_fails(hub: Hub, tmp_path: Path) -> None:
    name = f"continue-{uuid.uuid4().hex[:8]}"
    spec = _diamond(name, policy="continue", middle="testkit.fail_first")
    spec["steps"][1]["kwargs"] = {"path": str(tmp_path / f"{name}.marker")}
    with hub.client() as client:
        client.define_pipeline(spec)
        run = client.run_pipeline(name, {"x": 1})
        done = client.wait_pipeline_run(run.run_id, timeout=60)
    statuses = {s.name: s.status for s in done.steps}
    assert (done.status, statuses) == (
        "failed",
        {"a": "success", "b": "failed", "c": "success", "d": "skipped"},
    )
