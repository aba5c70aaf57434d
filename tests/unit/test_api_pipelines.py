"""Pipelines over HTTP in-process: definitions from JSON and YAML, runs, and their problems."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from corehub.api import create_app
from corehub.config import Settings
from corehub.runtime import Runtime, build_runtime
from tests.unit.helpers import clean_environ, free_port

PROBLEM = "application/problem+json"
CHAIN = {
    "name": "chain",
    "steps": [
        {"name": "text", "task": "echo_bot.echo"},
        {"name": "second", "task": "echo_bot.echo", "after": ["text"]},
    ],
}


@pytest.fixture
def rt(tmp_path: Path, clean_env: Path) -> Iterator[Runtime]:
    runtime = build_runtime(Settings(data_dir=tmp_path / "data"), publish=False)
    yield runtime
    runtime.close()


@pytest.fixture
def client(rt: Runtime) -> Iterator[TestClient]:
    app = create_app(rt.services)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_the_builtin_repopal_pipeline_is_listed_as_code(client: TestClient) -> None:
    listed = {p["name"]: p for p in client.get("/pipelines").json()}
    repopal = listed["repopal.handle_event"]
    assert (repopal["source"], [s["label"] for s in repopal["steps"]]) == (
        "code",
        ["processing", "dispatching", "executing", "processing_results"],
    )


def test_a_json_definition_is_created_then_replaced(client: TestClient) -> None:
    first = client.post("/pipelines", json=CHAIN)
    again = client.post("/pipelines", json=CHAIN)
    assert (first.status_code, again.status_code, first.json()["source"]) == (201, 200, "api")


def test_a_yaml_definition_is_accepted(client: TestClient) -> None:
    body = "name: y\nsteps:\n  - name: only\n    task: core.noop\n"
    response = client.post("/pipelines", content=body, headers={"content-type": "application/yaml"})
    assert (response.status_code, response.json()["steps"][0]["task"]) == (201, "core.noop")


def test_running_stores_the_run_with_its_root_step_queued(client: TestClient, rt: Runtime) -> None:
    client.post("/pipelines", json=CHAIN)
    response = client.post("/pipelines/chain/run", json={"input": {"text": "hi"}})
    run = response.json()
    assert (response.status_code, run["status"], [s["status"] for s in run["steps"]]) == (
        202,
        "received",
        ["queued", "pending"],
    )
    task = rt.store.get(run["steps"][0]["task_id"])
    assert task is not None and (task.kwargs, task.pipeline_run_id, task.step) == (
        {"text": "hi"},
        run["run_id"],
        "text",
    )
    listed = client.get("/pipeline-runs", params={"pipeline": "chain"}).json()["items"]
    assert [r["run_id"] for r in listed] == [run["run_id"]]
    events = client.get(f"/pipeline-runs/{run['run_id']}/events").json()
    assert [e["type"] for e in events] == ["received", "step_released"]


def test_cancel_then_rerun_then_cancel_again(client: TestClient) -> None:
    client.post("/pipelines", json=CHAIN)
    run_id = client.post("/pipelines/chain/run", json={"input": {"text": "x"}}).json()["run_id"]
    cancelled = client.post(f"/pipeline-runs/{run_id}/cancel")
    twice = client.post(f"/pipeline-runs/{run_id}/cancel")
    rerun = client.post(f"/pipeline-runs/{run_id}/rerun")
    assert (cancelled.json()["status"], twice.status_code, rerun.status_code) == (
        "cancelled",
        409,
        202,
    )
    assert [s["status"] for s in rerun.json()["steps"]] == ["queued", "pending"]
    again = client.post(f"/pipeline-runs/{run_id}/cancel")
    assert (again.status_code, again.json()["status"]) == (200, "cancelled")


@pytest.mark.parametrize(
    ("method", "path", "kw", "status"),
    [
        ("post", "/pipelines/nope/run", {"json": {}}, 404),
        ("get", "/pipeline-runs/nope", {}, 404),
        ("post", "/pipeline-runs/nope/cancel", {}, 404),
        (
            "post",
            "/pipelines",
            {"content": b"{", "headers": {"content-type": "application/json"}},
            422,
        ),
        (
            "post",
            "/pipelines",
            {"json": {"name": "x", "steps": [{"name": "a", "task": "no.pe"}]}},
            422,
        ),
        ("post", "/pipelines", {"json": {**CHAIN, "name": "repopal.handle_event"}}, 409),
        (
            "post",
            "/pipelines",
            {
                "json": {
                    "name": "x",
                    "steps": [
                        {"name": "a", "task": "core.noop"},
                        {"name": "b", "task": "core.noop", "after": ["a"]},
                    ],
                }
            },
            422,
        ),
        ("delete", "/pipelines/repopal.handle_event", {}, 409),
        ("post", "/pipelines/repopal.handle_event/run", {"json": {"input": {"zzz": 1}}}, 422),
        ("post", "/pipelines/repopal.handle_event/run", {"json": {"input": [1]}}, 422),
        ("get", "/pipeline-runs", {"params": {"status": "bogus"}}, 422),
    ],
)
def test_bad_requests_are_precise_problems(
    client: TestClient, rt: Runtime, method: str, path: str, kw: dict[str, object], status: int
) -> None:
    response = getattr(client, method)(path, **kw)
    assert (response.status_code, response.headers["content-type"]) == (status, PROBLEM), (
        response.text
    )
    assert rt.pipelines.list_runs(limit=10).items == []


def test_cli_runs_a_pipeline_and_shows_it(tmp_path: Path) -> None:
    """Local mode (no hub running): the run is stored and its tree printed; errors are one line."""
    env = {
        **clean_environ(),
        "HOME": str(tmp_path),
        "COREHUB_DATA_DIR": str(tmp_path / "data"),
        "COREHUB_API__PORT": str(free_port()),
    }
    cli = [sys.executable, "-m", "corehub.cli.main", "pipelines"]

    def call(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*cli, *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    started = call("run", "repopal.handle_event", "--input", '{"event": {"id": "e"}}', "--json")
    run_id = json.loads(started.stdout)["run_id"]
    shown = call("status", run_id)
    unknown = call("run", "nope")
    assert (started.returncode, shown.returncode, unknown.returncode) == (0, 0, 3)
    assert "process_event" in shown.stdout and "received" in shown.stdout
    assert unknown.stderr.strip().splitlines() == [
        "error: unknown pipeline 'nope'; known: repopal.handle_event"
    ]
