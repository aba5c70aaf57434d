"""Retries wait in SQL with backoff and end in success, dead (exhausted) or failure (permanent)."""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.integration.hubs import Hub


def _flaky(hub: Hub, tmp_path: Path, failures: int, error: str = "ConnectionError") -> str:
    counter = tmp_path / f"count-{uuid.uuid4().hex}"
    with hub.client() as client:
        return client.run(
            "testkit.flaky", {"path": str(counter), "failures": failures, "error": error}
        ).task_id


def test_transient_failures_retry_until_success(hub: Hub, tmp_path: Path) -> None:
    task_id = _flaky(hub, tmp_path, failures=2)
    [final] = hub.wait_all([task_id], timeout=60)
    with hub.client() as client:
        types = [e.type for e in client.events(task_id)]
    assert (final.status, final.result, final.attempt, types) == (
        "success",
        3,
        3,
        [
            "queued",
            "started",
            "retrying",
            "queued",
            "started",
            "retrying",
            "queued",
            "started",
            "success",
        ],
    )


def test_each_failed_attempt_records_its_error_class(hub: Hub, tmp_path: Path) -> None:
    task_id = _flaky(hub, tmp_path, failures=1)
    hub.wait_all([task_id], timeout=60)
    with hub.client() as client:
        retry = next(e for e in client.events(task_id) if e.type == "retrying")
    assert (retry.data or {}).get("error_class") == "transient"


def test_exhausted_retries_end_dead(hub: Hub, tmp_path: Path) -> None:
    task_id = _flaky(hub, tmp_path, failures=10)
    [final] = hub.wait_all([task_id], timeout=60)
    assert (final.status, final.attempt, final.error_detail and final.error_detail.error_class) == (
        "dead",
        3,
        "transient",
    )


def test_a_permanent_error_fails_at_once(hub: Hub, tmp_path: Path) -> None:
    task_id = _flaky(hub, tmp_path, failures=1, error="ValueError")
    [final] = hub.wait_all([task_id], timeout=60)
    assert (final.status, final.attempt, final.error_detail and final.error_detail.error_class) == (
        "failure",
        1,
        "permanent",
    )


def test_a_task_may_ask_for_a_retry_after_a_delay(hub: Hub, tmp_path: Path) -> None:
    task_id = _flaky(hub, tmp_path, failures=1, error="Retry")
    [final] = hub.wait_all([task_id], timeout=60)
    assert (final.status, final.attempt) == ("success", 2)


def test_a_dead_task_replayed_with_edited_kwargs_runs_as_a_linked_task(
    hub: Hub, tmp_path: Path
) -> None:
    dead_id = _flaky(hub, tmp_path, failures=10)
    hub.wait_all([dead_id], timeout=60)
    fresh = str(tmp_path / f"count-{uuid.uuid4().hex}")
    with hub.client() as client:
        replay = client.replay(dead_id, {"path": fresh, "failures": 0})
        [final] = hub.wait_all([replay.task_id], timeout=60)
        original_types = [e.type for e in client.events(dead_id)]
        first_event = client.events(replay.task_id)[0]
    assert (final.status, final.parent_id, original_types[-1], first_event.message) == (
        "success",
        dead_id,
        "replayed",
        f"replay of {dead_id}",
    )


def test_bulk_replay_takes_every_matching_dead_task(hub: Hub, tmp_path: Path) -> None:
    dead = [_flaky(hub, tmp_path, failures=10) for _ in range(2)]
    hub.wait_all(dead, timeout=60)
    with hub.client() as client:
        reply = client.replay_matching(task_name="testkit.flaky", limit=1000)
    assert set(dead) <= set(reply.replayed)


def test_replaying_a_successful_task_is_a_conflict(hub: Hub) -> None:
    from corehub.errors import Conflict

    with hub.client() as client:
        done = client.wait(client.run("echo_bot.echo", {"text": "x"}).task_id, timeout=30)
        try:
            client.replay(done.task_id)
        except Conflict as exc:
            refused = exc.status
        else:
            refused = 0
    assert refused == 409
