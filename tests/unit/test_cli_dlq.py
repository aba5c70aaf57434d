"""`corehub dlq`: dead letters listed and replayed from the command line (local mode)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from corehub.config import load_settings
from corehub.runtime import build_runtime
from corehub.store import NewTask, Outcome, TaskStatus
from tests.unit.helpers import free_port


def _cli(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COREHUB_API__PORT": str(free_port())}
    return subprocess.run(
        [sys.executable, "-m", "corehub.cli.main", *args],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _dead_task(work: Path) -> str:
    rt = build_runtime(load_settings(), publish=False)
    [task] = rt.store.create(
        [NewTask(name="echo_bot.echo", queue="celery", kwargs={"text": "x"}, max_attempts=1)]
    )
    lease = rt.store.claim(task.id, "w")
    assert lease is not None
    rt.store.finish(lease, Outcome(TaskStatus.DEAD, error_message="gave up"))
    rt.close()
    return task.id


def test_dlq_list_shows_dead_tasks(clean_env: Path) -> None:
    dead = _dead_task(clean_env)
    result = _cli(clean_env, "dlq", "list", "--json")
    assert [t["task_id"] for t in json.loads(result.stdout)["items"]] == [dead]


def test_dlq_replay_with_edited_kwargs_creates_a_linked_task(clean_env: Path) -> None:
    dead = _dead_task(clean_env)
    result = _cli(clean_env, "dlq", "replay", dead, "-k", "text=again", "--json")
    [view] = json.loads(result.stdout)
    assert (view["parent_id"], view["kwargs"], view["status"]) == (
        dead,
        {"text": "again"},
        "queued",
    )


def test_dlq_replay_all_takes_every_dead_task(clean_env: Path) -> None:
    dead = {_dead_task(clean_env), _dead_task(clean_env)}
    result = _cli(clean_env, "dlq", "replay", "--all", "--json")
    assert {v["parent_id"] for v in json.loads(result.stdout)} == dead


def test_dlq_replay_without_ids_or_all_is_a_usage_error(clean_env: Path) -> None:
    result = _cli(clean_env, "dlq", "replay")
    assert (result.returncode, len(result.stderr.strip().splitlines())) == (2, 1)
