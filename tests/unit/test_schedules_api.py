"""Schedules and delayed tasks through the HTTP API, the Python client and the command line."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import corehub
from corehub import local
from corehub.api import create_app
from corehub.client import AsyncClient, Client
from corehub.config import Settings
from corehub.config.settings import ScheduleConfig
from corehub.errors import Conflict, InvalidInput, NotFound
from corehub.runtime import Runtime, build_runtime
from tests.unit.helpers import clean_environ, free_port, serving

PROBLEM = "application/problem+json"
HOURLY = {"task_name": "echo_bot.echo", "kwargs": {"text": "hi"}, "every": 3600}


def _runtime(root: Path) -> Runtime:
    """A runtime on SQLite under `root` with one schedule from its config file."""
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("COREHUB_")]:
            mp.delenv(name)
        mp.setenv("HOME", str(root))
        mp.chdir(root)
        settings = Settings(
            data_dir=root / "data",
            schedules=[
                ScheduleConfig(name="core.health_check", task="core.health_check", every=60)
            ],
        )
    rt = build_runtime(settings, publish=False)
    rt.schedules.sync_config(settings.schedules)
    return rt


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    rt = _runtime(tmp_path)
    with TestClient(create_app(rt.services), raise_server_exceptions=False) as test_client:
        yield test_client
    rt.close()


def _create(client: TestClient, name: str = "hello", **fields: Any) -> dict[str, Any]:
    response = client.post("/schedules", json={"name": name, **HOURLY, **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


# -- the HTTP API -------------------------------------------------------------------------------


def test_a_created_schedule_is_listed_and_shown(client: TestClient) -> None:
    created = _create(client)
    listed = [s["name"] for s in client.get("/schedules").json()]
    shown = client.get("/schedules/hello").json()
    assert (created["source"], listed, shown == created) == (
        "api",
        ["core.health_check", "hello"],
        True,
    )


def test_a_schedule_can_be_redefined(client: TestClient) -> None:
    _create(client)
    response = client.put("/schedules/hello", json={**HOURLY, "cron": "0 9 * * *", "every": None})
    assert (response.status_code, response.json()["cron"]) == (200, "0 9 * * *")


def test_a_deleted_schedule_is_gone(client: TestClient) -> None:
    _create(client)
    deleted = client.delete("/schedules/hello")
    after = client.get("/schedules/hello")
    assert (deleted.status_code, after.status_code, after.headers["content-type"]) == (
        204,
        404,
        PROBLEM,
    )


def test_pause_and_resume(client: TestClient) -> None:
    _create(client)
    paused = client.post("/schedules/hello/pause").json()["paused"]
    resumed = client.post("/schedules/hello/resume").json()["paused"]
    assert (paused, resumed) == (True, False)


def test_run_now_accepts_the_schedules_task(client: TestClient) -> None:
    _create(client)
    response = client.post("/schedules/hello/run")
    task = response.json()
    assert (response.status_code, task["task_name"], task["kwargs"], task["status"]) == (
        202,
        "echo_bot.echo",
        {"text": "hi"},
        "queued",
    )


def test_a_dotted_name_works_in_paths(client: TestClient) -> None:
    assert client.post("/schedules/core.health_check/pause").json()["paused"] is True


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/schedules/nope", 404),
        ("post", "/schedules/nope/pause", 404),
        ("post", "/schedules/nope/run", 404),
        ("delete", "/schedules/nope", 404),
        ("delete", "/schedules/core.health_check", 409),
        ("put", "/schedules/core.health_check", 409),
    ],
)
def test_missing_and_config_owned_schedules(
    client: TestClient, method: str, path: str, status: int
) -> None:
    response = client.request(method, path, json=HOURLY if method == "put" else None)
    assert (response.status_code, response.headers["content-type"]) == (status, PROBLEM)


def test_a_taken_name_is_a_conflict(client: TestClient) -> None:
    _create(client)
    response = client.post("/schedules", json={"name": "hello", **HOURLY})
    assert (response.status_code, response.headers["content-type"]) == (409, PROBLEM)


@pytest.mark.parametrize(
    "fields",
    [
        {"every": None},
        {"cron": "0 9 * * *"},
        {"every": None, "cron": "not cron"},
        {"every": None, "cron": "0 9 * * *", "timezone": "Nowhere/Land"},
        {"task_name": "echo_bot.nope"},
        {"every": -1},
        {"misfire": "sometimes"},
        {"name": "has space"},
        {"every": 1e300},
        {"every": None, "cron": "0 0 30 2 *"},
    ],
    ids=[
        "no-timing",
        "both",
        "bad-cron",
        "bad-zone",
        "task",
        "negative",
        "misfire",
        "name",
        "huge-every",
        "cron-never-fires",
    ],
)
def test_bad_definitions_are_422_and_store_nothing(
    client: TestClient, fields: dict[str, Any]
) -> None:
    response = client.post("/schedules", json={"name": "bad", **HOURLY, **fields})
    names = [s["name"] for s in client.get("/schedules").json()]
    assert (response.status_code, names) == (422, ["core.health_check"])


def test_a_task_run_with_a_countdown_is_scheduled(client: TestClient) -> None:
    response = client.post("/tasks/run", json={"task_name": "core.noop", "countdown": 60})
    body = response.json()
    assert (response.status_code, body["status"], body["run_at"] is not None) == (
        202,
        "scheduled",
        True,
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"run_at": "2030-01-01T09:00:00"},
        {"run_at": "2030-01-01T09:00:00Z", "countdown": 5},
        {"countdown": -5},
        {"run_at": "9999-12-31T23:59:59-05:00"},
        {"run_at": "2200-01-01T00:00:00+00:00"},
    ],
    ids=["naive", "both", "negative", "out-of-range", "too-far"],
)
def test_bad_delays_are_422(client: TestClient, fields: dict[str, Any]) -> None:
    response = client.post("/tasks/run", json={"task_name": "core.noop", **fields})
    assert (response.status_code, response.headers["content-type"]) == (422, PROBLEM)


def test_bulk_runs_accept_delays(client: TestClient) -> None:
    body = {"tasks": [{"task_name": "core.noop", "run_at": "2030-01-01T09:00:00+02:00"}]}
    [task_id] = client.post("/tasks/bulk", json=body).json()["task_ids"]
    task = client.get(f"/tasks/{task_id}").json()
    assert (task["status"], task["run_at"]) == ("scheduled", "2030-01-01T07:00:00Z")


# -- the Python client, sync and async, over real HTTP ------------------------------------------


@pytest.fixture(scope="module")
def hub_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    rt = _runtime(tmp_path_factory.mktemp("schedules-hub"))
    with serving(rt) as url:
        yield url
    rt.close()


def test_the_client_manages_schedules(hub_url: str) -> None:
    with Client(hub_url) as hub:
        created = hub.create_schedule("client.sync", "core.noop", every=30, misfire="run_once")
        updated = hub.update_schedule("client.sync", "core.noop", every=45)
        paused = hub.pause_schedule("client.sync")
        resumed = hub.resume_schedule("client.sync")
        task = hub.run_schedule("client.sync")
        hub.delete_schedule("client.sync")
        with pytest.raises(NotFound):
            hub.schedule("client.sync")
        with pytest.raises(Conflict):
            hub.delete_schedule("core.health_check")
        with pytest.raises(InvalidInput):
            hub.create_schedule("client.bad", "core.noop", cron="nope")
    assert (created.misfire, updated.every, paused.paused, resumed.paused, task.task_name) == (
        "run_once",
        45,
        True,
        False,
        "core.noop",
    )


def test_the_client_runs_a_task_later(hub_url: str) -> None:
    with Client(hub_url) as hub:
        view = hub.run("core.noop", countdown=120)
    assert (view.status, view.run_at is not None) == ("scheduled", True)


def test_the_async_client_manages_schedules(hub_url: str) -> None:
    async def main() -> tuple[str, list[str], bool]:
        async with AsyncClient(hub_url) as hub:
            await hub.create_schedule("client.async", "core.noop", cron="*/5 * * * *")
            names = [s.name for s in await hub.schedules()]
            paused = (await hub.pause_schedule("client.async")).paused
            task = await hub.run_schedule("client.async")
            await hub.delete_schedule("client.async")
            return task.task_name, names, paused

    task_name, names, paused = asyncio.run(main())
    assert (task_name, "client.async" in names, paused) == ("core.noop", True, True)


# -- the command line (local mode) --------------------------------------------------------------

CLI = [sys.executable, "-m", "corehub.cli.main"]
NIGHTLY = '[{"name": "nightly", "task": "core.noop", "cron": "0 3 * * *"}]'


def _cli(args: list[str], root: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **clean_environ(),
        "HOME": str(root),
        "COREHUB_DATA_DIR": str(root / "data"),
        "COREHUB_API__PORT": str(free_port()),  # no hub there: local mode
        "COREHUB_SCHEDULES": NIGHTLY,
    }
    return subprocess.run(
        [*CLI, *args], cwd=root, env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture(scope="module")
def cli_session(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One installation taken through the schedule commands in order."""
    root = tmp_path_factory.mktemp("schedules-cli")
    # A config schedule reaches the table when a scheduler starts; here, a sync stands in.
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("COREHUB_")]:
            mp.delenv(name)
        mp.setenv("HOME", str(root))
        mp.chdir(root)
        mp.setenv("COREHUB_SCHEDULES", NIGHTLY)
        settings = Settings(data_dir=root / "data")
        rt = build_runtime(settings, publish=False)
        rt.schedules.sync_config(settings.schedules)
        rt.close()
    steps = [
        (
            "add",
            [
                "schedules",
                "add",
                "cli.every",
                "echo_bot.echo",
                "--every",
                "90",
                "-k",
                "text=x",
                "--json",
            ],
        ),
        ("add_bad", ["schedules", "add", "cli.bad", "core.noop", "--cron", "nope"]),
        ("pause", ["schedules", "pause", "cli.every", "--json"]),
        ("list", ["schedules", "list", "--json"]),
        ("resume", ["schedules", "resume", "cli.every"]),
        ("run", ["schedules", "run", "cli.every", "--json"]),
        ("remove", ["schedules", "remove", "cli.every"]),
        ("remove_config", ["schedules", "remove", "nightly"]),
        ("show_gone", ["schedules", "show", "cli.every"]),
        ("later", ["run", "core.noop", "--countdown", "60", "--json"]),
    ]
    return {key: _cli(args, root) for key, args in steps}


def test_cli_adds_a_schedule(cli_session: dict[str, Any]) -> None:
    add = cli_session["add"]
    body = json.loads(add.stdout) if add.returncode == 0 else add.stderr
    assert (body["every"], body["kwargs"], body["source"]) == (90, {"text": "x"}, "api")


def test_cli_lists_schedules_with_their_state(cli_session: dict[str, Any]) -> None:
    listed = json.loads(cli_session["list"].stdout)
    assert [(s["name"], s["paused"]) for s in listed] == [("cli.every", True), ("nightly", False)]


def test_cli_runs_a_schedule_now(cli_session: dict[str, Any]) -> None:
    task = json.loads(cli_session["run"].stdout)
    assert (task["task_name"], task["status"]) == ("echo_bot.echo", "queued")


def test_cli_exit_codes_for_schedules(cli_session: dict[str, Any]) -> None:
    codes = {
        k: cli_session[k].returncode for k in ("add_bad", "remove", "remove_config", "show_gone")
    }
    assert codes == {"add_bad": 2, "remove": 0, "remove_config": 5, "show_gone": 3}


def test_cli_runs_a_task_later(cli_session: dict[str, Any]) -> None:
    task = json.loads(cli_session["later"].stdout)
    assert (task["status"], task["run_at"] is not None) == ("scheduled", True)


# -- the library ---------------------------------------------------------------------------------


def test_library_submit_takes_a_countdown(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COREHUB_DATA_DIR", str(clean_env / "data"))
    local.reset()
    try:
        task_id = corehub.submit("echo_bot.echo", countdown=60, text="later")
        record = local.local_runtime().store.get(task_id)
    finally:
        local.reset()
    assert record is not None
    assert (record.status, record.kwargs, record.run_at is not None) == (
        "scheduled",
        {"text": "later"},
        True,
    )
