"""When a worker acknowledges a message (corehub.engine.acks), seen from a real Celery worker
on the in-process broker: a message corehub published is acknowledged before its task runs,
a plain Celery client's only after; a delivery that meets an unavailable database runs
again either way."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery.worker.request import Request

from corehub.config import Settings
from corehub.engine import app as engine_app
from corehub.engine.embedded import EmbeddedWorker
from corehub.engine.headers import RECORDED_HEADER, STEP_HEADER
from corehub.errors import Unavailable
from corehub.runtime import Runtime, build_runtime
from tests.unit.helpers import wait_for

RECORDED = {RECORDED_HEADER: True}


@pytest.fixture
def acked(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Ids of the messages the worker has acknowledged so far."""
    ids: set[str] = set()
    original = Request.acknowledge

    def acknowledge(self: Request) -> None:
        if not self.acknowledged:
            ids.add(self.id)
        original(self)

    monkeypatch.setattr(Request, "acknowledge", acknowledge)
    return ids


def _runtime(tmp_path: Path, early_ack: bool) -> Iterator[Runtime]:
    settings = Settings(data_dir=tmp_path / "data", worker={"early_ack": early_ack})
    rt = build_runtime(settings)
    worker = EmbeddedWorker(rt.celery, 2)
    worker.start()
    yield rt
    worker.stop()
    rt.close()


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    yield from _runtime(tmp_path, early_ack=True)


@pytest.fixture
def late_runtime(tmp_path: Path) -> Iterator[Runtime]:
    yield from _runtime(tmp_path, early_ack=False)


def _acked_at_start(
    rt: Runtime, acked: set[str], monkeypatch: pytest.MonkeyPatch, sends: dict[str, Any]
) -> dict[str, bool]:
    """Send each message; for each, whether it was acknowledged when its task began."""
    seen: dict[str, bool] = {}

    def run_delivery(ctx: Any, spec: Any, task_id: str, *args: Any, step: bool) -> None:
        seen[task_id] = task_id in acked

    monkeypatch.setattr(engine_app, "run_delivery", run_delivery)
    for task_id, headers in sends.items():
        rt.celery.send_task("core.noop", task_id=task_id, headers=headers)

    # Every message acknowledged and every task run: a recorded one is acknowledged before
    # its task runs, so the acks alone would not say that.
    def done() -> bool:
        return set(acked) >= set(sends) and set(seen) >= set(sends)

    assert wait_for(done, timeout=10), (seen, acked)
    return seen


def test_a_message_with_its_row_is_acknowledged_before_its_task_runs(
    runtime: Runtime, acked: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sends = {"recorded": RECORDED, "step": {**RECORDED, STEP_HEADER: True}, "plain": None}
    seen = _acked_at_start(runtime, acked, monkeypatch, sends)
    assert seen == {"recorded": True, "step": True, "plain": False}


def test_without_early_ack_every_message_is_acknowledged_after_its_task(
    late_runtime: Runtime, acked: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _acked_at_start(late_runtime, acked, monkeypatch, {"recorded": RECORDED})
    assert seen == {"recorded": False}


@pytest.mark.parametrize("headers", [RECORDED, None], ids=["acked-when-taken", "acked-at-end"])
def test_a_delivery_that_finds_the_database_away_runs_again(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, headers: dict[str, Any] | None
) -> None:
    """Handed back to the broker: published again if its ack was spent, else requeued."""
    calls: list[tuple[str, bool]] = []
    done = threading.Event()

    def run_delivery(ctx: Any, spec: Any, task_id: str, *args: Any, step: bool) -> None:
        calls.append((task_id, step))
        if len(calls) == 1:
            raise Unavailable("the database is away")
        done.set()

    monkeypatch.setattr(engine_app, "run_delivery", run_delivery)
    monkeypatch.setattr(engine_app, "UNAVAILABLE_PAUSE", 0.0)
    step = {STEP_HEADER: True} if headers else None
    runtime.celery.send_task("core.noop", task_id="t1", headers={**(headers or {}), **(step or {})})
    assert done.wait(10), calls
    assert calls == [("t1", bool(step))] * 2
