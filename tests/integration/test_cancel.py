"""Cancellation and time limits: a cancelled task never runs on, a limit is a timeout."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from corehub.errors import Conflict
from tests.integration.hubs import Hub

RETRY_AFTER = 2.0


def _types(hub: Hub, task_id: str) -> list[str]:
    with hub.client() as client:
        return [e.type for e in client.events(task_id)]


def test_a_waiting_task_cancelled_never_starts_again(hub: Hub, tmp_path: Path) -> None:
    counter = tmp_path / f"count-{uuid.uuid4().hex}"
    with hub.client() as client:
        # The retry is due 2 s after the first attempt fails: the cancel, sent once the
        # task is seen retrying, lands before it even on a slow machine (with 0.2 s it
        # could land after the retry had started).
        kwargs = {"path": str(counter), "failures": 5, "error": "Retry", "after": RETRY_AFTER}
        task_id = client.run("testkit.flaky", kwargs).task_id
        deadline = time.monotonic() + 30
        while client.get(task_id).status != "retrying" and time.monotonic() < deadline:
            time.sleep(0.05)
        cancelled = client.cancel(task_id)
        time.sleep(RETRY_AFTER + 0.8)  # the retry would have been due by now
        final = client.get(task_id)
    assert (cancelled.status, final.status, _types(hub, task_id).count("started")) == (
        "cancelled",
        "cancelled",
        1,
    )


def test_a_running_task_cancelled_keeps_cancelled_and_drops_its_outcome(hub: Hub) -> None:
    with hub.client() as client:
        task_id = client.run("core.sleep", {"seconds": 1.0}).task_id
        deadline = time.monotonic() + 30
        while client.get(task_id).status != "started" and time.monotonic() < deadline:
            time.sleep(0.05)
        client.cancel(task_id)
        deadline = time.monotonic() + 30
        while "fenced" not in _types(hub, task_id) and time.monotonic() < deadline:
            time.sleep(0.1)
        final = client.get(task_id)
    assert (final.status, final.result, "fenced" in _types(hub, task_id)) == (
        "cancelled",
        None,
        True,
    )


def test_cancelling_a_finished_task_is_a_conflict(hub: Hub) -> None:
    with hub.client() as client:
        done = client.wait(client.run("echo_bot.echo", {"text": "x"}).task_id, timeout=30)
        with pytest.raises(Conflict):
            client.cancel(done.task_id)


def test_a_soft_time_limit_is_an_attempt_of_class_timeout(shared_broker_hub: Hub) -> None:
    with shared_broker_hub.client() as client:
        task_id = client.run("testkit.soft_limited", args=[3]).task_id
    [final] = shared_broker_hub.wait_all([task_id], timeout=60)
    assert (final.status, final.attempt, final.error_detail and final.error_detail.error_class) == (
        "dead",
        2,
        "timeout",
    )


def test_a_hard_time_limit_kill_is_an_attempt_of_class_timeout(shared_broker_hub: Hub) -> None:
    with shared_broker_hub.client() as client:
        task_id = client.run("testkit.hard_limited", {"seconds": 5}).task_id
    [final] = shared_broker_hub.wait_all([task_id], timeout=60)
    assert (final.status, final.attempt, final.error_detail and final.error_detail.error_class) == (
        "dead",
        2,
        "timeout",
    )
