"""The `corehub` command as users run it: a subprocess, local mode and beside a running hub."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.unit.helpers import clean_environ, free_port

CLI = [sys.executable, "-m", "corehub.cli.main"]
SECRET_URL = "postgresql://app:s3cret@127.0.0.1:1/hub"  # port 1: nothing to connect to


def _cli(
    args: list[str], cwd: Path, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _env(root: Path, data: str) -> dict[str, str]:
    """Nothing from the caller's corehub set-up; a port where no hub listens (local mode)."""
    return {
        **clean_environ(),
        "HOME": str(root / "home"),
        "COREHUB_DATA_DIR": str(root / data),
        "COREHUB_API__PORT": str(free_port()),
    }


# -- local mode: every command runs once, independent ones in parallel --------------------------


def _run_then_read(root: Path, env: dict[str, str]) -> dict[str, Any]:
    """`run --json`, then the commands that read the task it created."""
    run = _cli(["run", "echo_bot.echo", "-k", "text=hi", "--json"], root, env)
    task_id = json.loads(run.stdout)["task_id"] if run.returncode == 0 else "missing"
    return {
        "run_json": run,
        "task_id": task_id,
        "list_runs": _cli(["list", "runs", "--json"], root, env),
        "status": _cli(["status", task_id, "--json", "--events"], root, env),
    }


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("cli")
    (root / "home").mkdir()
    env = _env(root, "data")
    commands: dict[str, tuple[list[str], dict[str, str]]] = {
        "config_url": (["config", "database.url"], env),
        "config_json": (["config", "--json"], {**env, "COREHUB_DATABASE__URL": SECRET_URL}),
        "bad_config": (["config"], {**env, "COREHUB_API__PORT": "abc"}),
        "unknown_task": (["run", "echo_bot.ecko"], env),
        "bad_pair": (["run", "echo_bot.echo", "-k", "bad"], env),
        "list_tasks": (["list", "tasks", "--json"], env),
        "status_nope": (["status", "nope"], env),
        "bad_status": (["list", "runs", "--status", "bogus"], env),
        "db_upgrade": (["db", "upgrade"], _env(root, "fresh")),
    }
    with ThreadPoolExecutor(max_workers=3) as pool:
        chain = pool.submit(_run_then_read, root, env)
        futures = {k: pool.submit(_cli, args, root, e) for k, (args, e) in commands.items()}
        results: dict[str, Any] = {k: f.result() for k, f in futures.items()}
        results.update(chain.result())
    return results


def _stderr_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def test_config_key_prints_the_sqlite_url(local: dict[str, Any]) -> None:
    out = local["config_url"].stdout.strip()
    assert out.startswith("sqlite:///") and out.endswith("/data/corehub.db"), out


def test_config_json_is_valid_json(local: dict[str, Any]) -> None:
    assert isinstance(json.loads(local["config_json"].stdout), dict)


def test_config_json_masks_the_database_password(local: dict[str, Any]) -> None:
    values = json.loads(local["config_json"].stdout)
    assert values["database.url"] == "postgresql://app:***@127.0.0.1:1/hub"


def test_config_json_never_shows_the_password(local: dict[str, Any]) -> None:
    assert "s3cret" not in local["config_json"].stdout + local["config_json"].stderr


def test_bad_config_exits_2(local: dict[str, Any]) -> None:
    assert local["bad_config"].returncode == 2


def test_bad_config_prints_one_line_naming_the_key(local: dict[str, Any]) -> None:
    lines = _stderr_lines(local["bad_config"])
    assert len(lines) == 1 and "api.port" in lines[0], lines


def test_bad_config_prints_no_traceback(local: dict[str, Any]) -> None:
    assert "Traceback" not in local["bad_config"].stderr


def test_unknown_task_exits_3(local: dict[str, Any]) -> None:
    assert local["unknown_task"].returncode == 3


def test_unknown_task_prints_one_line_with_a_suggestion(local: dict[str, Any]) -> None:
    lines = _stderr_lines(local["unknown_task"])
    assert len(lines) == 1 and "echo_bot.echo" in lines[0], lines


def test_malformed_kw_pair_exits_2(local: dict[str, Any]) -> None:
    assert local["bad_pair"].returncode == 2


def test_run_json_exits_0(local: dict[str, Any]) -> None:
    assert local["run_json"].returncode == 0, local["run_json"].stderr


def test_run_json_prints_a_queued_task(local: dict[str, Any]) -> None:
    view = json.loads(local["run_json"].stdout)
    assert (view["status"], view["kwargs"]) == ("queued", {"text": "hi"})


def test_list_runs_json_shows_the_run(local: dict[str, Any]) -> None:
    page = json.loads(local["list_runs"].stdout)
    assert [item["task_id"] for item in page["items"]] == [local["task_id"]]


def test_status_json_shows_the_waiting_task(local: dict[str, Any]) -> None:
    view = json.loads(local["status"].stdout)
    assert (view["task_id"], view["status"]) == (local["task_id"], "queued")


def test_status_json_events_show_the_queued_event(local: dict[str, Any]) -> None:
    view = json.loads(local["status"].stdout)
    assert [e["type"] for e in view["events"]] == ["queued"]


def test_status_of_an_unknown_id_exits_3(local: dict[str, Any]) -> None:
    assert local["status_nope"].returncode == 3


def test_db_upgrade_exits_0(local: dict[str, Any]) -> None:
    assert local["db_upgrade"].returncode == 0, local["db_upgrade"].stderr


def test_db_upgrade_reports_the_newest_revision(local: dict[str, Any]) -> None:
    from alembic.script import ScriptDirectory

    from corehub.store.migrate import MIGRATIONS

    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert f"revision {head}" in local["db_upgrade"].stdout


def test_list_runs_with_an_unknown_status_exits_2(local: dict[str, Any]) -> None:
    assert local["bad_status"].returncode == 2, local["bad_status"].stderr


def test_list_tasks_json_includes_echo(local: dict[str, Any]) -> None:
    names = {info["name"] for info in json.loads(local["list_tasks"].stdout)}
    assert "echo_bot.echo" in names


# -- beside an embedded hub: `corehub up`, then runs that wait, then Ctrl-C ---------------------


@dataclass
class HubRun:
    echo: subprocess.CompletedProcess[str]
    fail: subprocess.CompletedProcess[str]
    pipeline: subprocess.CompletedProcess[str]
    stop_seconds: float
    returncode: int | None
    stderr: str


def _wait_for_ping(url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"corehub up exited early with {proc.returncode}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/ping", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"corehub up did not answer {url}/ping within {timeout} s")


def _hub_scenario(root: Path) -> HubRun:
    """Start `corehub up`, run two tasks and a pipeline with --wait beside it, then stop it
    with SIGINT."""
    (root / "home").mkdir()
    port = free_port()
    env = {**_env(root, "data"), "COREHUB_API__PORT": str(port)}
    err_path = root / "up.err"
    with err_path.open("wb") as err:
        proc = subprocess.Popen(
            [*CLI, "up", "--port", str(port)],
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
    try:
        _wait_for_ping(f"http://127.0.0.1:{port}", proc, timeout=30)
        event = {"event": {"subject": "octo/repo", "payload": {"comment": {"body": "/repopal x"}}}}
        pipeline_args = ["pipelines", "run", "repopal.handle_event", "--wait"]
        with ThreadPoolExecutor(max_workers=3) as pool:
            echo = pool.submit(
                _cli, ["run", "echo_bot.echo", "-k", "text=hello", "--wait"], root, env, 30
            )
            fail = pool.submit(_cli, ["run", "core.fail", "--wait"], root, env, 30)
            pipeline = pool.submit(
                _cli, [*pipeline_args, "--input", json.dumps(event)], root, env, 30
            )
            results = echo.result(), fail.result(), pipeline.result()
        start = time.monotonic()
        proc.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=15)
        elapsed = time.monotonic() - start
        return HubRun(*results, elapsed, proc.poll(), err_path.read_text(errors="replace"))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module", autouse=True)
def hub_future(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Future[HubRun]]:
    """The hub scenario runs in the background while the local-mode commands run."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(_hub_scenario, tmp_path_factory.mktemp("cli-hub"))
        yield future
        future.exception(timeout=120)


@pytest.fixture
def hub_run(hub_future: Future[HubRun]) -> HubRun:
    return hub_future.result(timeout=120)


def test_hub_run_wait_exits_0(hub_run: HubRun) -> None:
    assert hub_run.echo.returncode == 0, hub_run.echo.stderr


def test_hub_run_wait_prints_the_result(hub_run: HubRun) -> None:
    assert "hello" in hub_run.echo.stdout


def test_hub_run_of_a_failing_task_exits_1(hub_run: HubRun) -> None:
    assert hub_run.fail.returncode == 1, hub_run.fail.stderr


def test_a_pipeline_followed_to_its_end_leaves_its_last_line_whole(hub_run: HubRun) -> None:
    """Its live tree goes to stderr; when that is no terminal (a log, a pipe), Rich does not
    end the last frame's line, and the next output ran on from it."""
    assert hub_run.pipeline.returncode == 0, hub_run.pipeline.stderr
    assert "execute_command" in hub_run.pipeline.stderr
    assert hub_run.pipeline.stderr.endswith("\n"), hub_run.pipeline.stderr[-200:]


def test_hub_run_of_a_failing_task_reports_its_error(hub_run: HubRun) -> None:
    assert "failed on purpose" in hub_run.fail.stderr


def test_hub_stops_within_5_seconds_of_sigint(hub_run: HubRun) -> None:
    assert hub_run.returncode is not None and hub_run.stop_seconds < 5, hub_run.stop_seconds


def test_hub_exit_code_after_sigint_is_clean(hub_run: HubRun) -> None:
    assert hub_run.returncode in (0, 130, -signal.SIGINT), hub_run.stderr


def test_hub_prints_no_traceback(hub_run: HubRun) -> None:
    assert "Traceback" not in hub_run.stderr, hub_run.stderr
