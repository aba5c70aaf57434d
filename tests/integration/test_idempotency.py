"""Submits are deduplicated by idempotency key; effects inside `once()` happen once."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.integration.hubs import Hub


def _post(hub: Hub, key: str, text: str) -> httpx.Response:
    return httpx.post(
        f"{hub.url}/tasks/run",
        timeout=30,
        headers={"Idempotency-Key": key},
        json={"task_name": "echo_bot.echo", "kwargs": {"text": text}},
    )


def test_same_key_and_body_returns_the_original_task(hub: Hub) -> None:
    key = uuid.uuid4().hex
    first, again = _post(hub, key, "a"), _post(hub, key, "a")
    assert (first.status_code, again.status_code, again.json()["task_id"]) == (
        202,
        200,
        first.json()["task_id"],
    )


def test_same_key_with_another_body_is_a_conflict(hub: Hub) -> None:
    key = uuid.uuid4().hex
    _post(hub, key, "a")
    assert _post(hub, key, "b").status_code == 409


def test_twenty_concurrent_identical_submits_make_one_task(hub: Hub) -> None:
    key = uuid.uuid4().hex
    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(lambda _: _post(hub, key, "same"), range(20)))
    statuses = sorted(r.status_code for r in responses)
    assert (statuses, len({r.json()["task_id"] for r in responses})) == ([200] * 19 + [202], 1)


def test_an_effect_inside_once_happens_once_across_retries(hub: Hub, tmp_path: Path) -> None:
    ledger = tmp_path / f"ledger-{uuid.uuid4().hex}"
    with hub.client() as client:
        task_id = client.run("testkit.charge", {"path": str(ledger)}).task_id
    [final] = hub.wait_all([task_id], timeout=60)
    assert (final.status, final.attempt, final.result) == ("success", 3, 1)
