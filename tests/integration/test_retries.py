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
