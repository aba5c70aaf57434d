"""Nothing accepted is lost when the embedded hub dies or the broker is away."""

from __future__ import annotations

import signal
import uuid
from pathlib import Path

import pytest

from corehub.schemas import TERMINAL_STATUSES, RunTaskRequest
from tests.harness.servers import PostgresServer, RedisServer
from tests.integration.hubs import embedded_hub, split_hub

ACCEPTED = 100


def test_embedded_hub_killed_with_accepted_tasks_finishes_all_after_restart(
    tmp_path: Path,
) -> None:
    hub = embedded_hub(tmp_path)
    hub.start()
    try:
        with hub.client() as client:
            ids = client.run_many(
                [
                    RunTaskRequest(task_name="core.sleep", kwargs={"seconds": 0.02})
                    for _ in range(ACCEPTED)
                ]
            )
            unfinished = sum(1 for i in ids if client.get(i).status not in TERMINAL_STATUSES)
        hub.process("up").signal(signal.SIGKILL)
        hub.process("up").proc.wait(5)  # type: ignore[union-attr]
        hub.start()
        views = hub.wait_all(ids, timeout=60)
    finally:
        hub.stop()
    assert unfinished > 0, "the kill came too late to prove anything"
    assert [v.status for v in views] == ["success"] * ACCEPTED


def test_embedded_hub_stops_cleanly_on_sigterm_within_5s(tmp_path: Path) -> None:
    hub = embedded_hub(tmp_path)
    hub.start()
    hub.process("up").signal(signal.SIGTERM)
    code = hub.process("up").proc.wait(5)  # type: ignore[union-attr]
    assert (code, "Traceback" in hub.process("up").tail(200)) == (0, False)


@pytest.mark.servers
def test_task_accepted_while_broker_is_down_runs_when_it_is_back(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    db_url = postgres_server.create_database(f"hub_{uuid.uuid4().hex[:10]}")
    hub = split_hub(tmp_path / "hub", db_url, redis.url)
    (tmp_path / "hub").mkdir()
    hub.start()
    try:
        redis.stop()
        with hub.client() as client:
            view = client.run("echo_bot.echo", {"text": "while away"})
            still_queued = client.get(view.task_id).status == "queued"
        redis.restart()
        [final] = hub.wait_all([view.task_id], timeout=60)
    finally:
        hub.stop()
        redis.stop()
    assert (view.status, still_queued, final.status) == ("queued", True, "success")
