"""The in-process broker wakes its consumer: a put, an ack that frees a prefetch window and a
close each end a wait at once, where kombu's memory transport polls (here every second, its
default `polling_interval`). Priorities and FIFO within one still hold."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kombu
import pytest

from corehub.config import Settings
from corehub.engine import app as engine_app
from corehub.engine.embedded import EmbeddedWorker
from corehub.engine.headers import STEP_HEADER
from corehub.engine.priorities import PriorityMemoryTransport
from corehub.runtime import Runtime, build_runtime
from tests.unit.helpers import wait_for

PROMPT = 0.2  # seconds; a polling consumer would take about a second


# kombu ships no type hints: its untyped constructors stay in these two helpers.
def _connection() -> Any:
    return kombu.Connection(  # type: ignore[attr-defined,no-untyped-call]
        "memory://localhost/", transport=PriorityMemoryTransport
    )


def _queue() -> Any:
    name = f"t-{uuid.uuid4().hex[:8]}"
    exchange = kombu.Exchange(name)  # type: ignore[attr-defined,no-untyped-call]
    return kombu.Queue(name, exchange, name)  # type: ignore[attr-defined,no-untyped-call]


def _publish(queue: Any, n: int, priority: int = 0) -> float:
    """Publish from a connection of its own, as another thread's producer would."""
    with _connection() as conn:
        conn.Producer().publish(
            {"n": n}, routing_key=queue.routing_key, declare=[queue], priority=priority
        )
    return time.monotonic()


def _drain_in_thread(conn: Any, timeout: float | None) -> tuple[threading.Thread, list[Any]]:
    """`conn.drain_events(timeout)` in a thread; the list gets what it raised, if anything."""
    raised: list[Any] = []

    def drain() -> None:
        try:
            conn.drain_events(timeout=timeout)
        except Exception as exc:
            raised.append(exc)

    thread = threading.Thread(target=drain, daemon=True)
    thread.start()
    time.sleep(0.1)  # waiting by now
    return thread, raised


def _receiver(got: list[tuple[float, Any]], ack: bool = True) -> Callable[[Any, Any], None]:
    def receive(body: Any, message: Any) -> None:
        got.append((time.monotonic(), message if not ack else body["n"]))
        if ack:
            message.ack()

    return receive


def test_a_waiting_consumer_gets_a_put_at_once() -> None:
    queue = _queue()
    got: list[tuple[float, Any]] = []
    with _connection() as conn, conn.Consumer(queue, callbacks=[_receiver(got)]):
        thread, raised = _drain_in_thread(conn, timeout=5)
        sent = _publish(queue, 1)
        thread.join(5)
    assert raised == [] and [n for _, n in got] == [1]
    assert got[0][0] - sent < PROMPT


def test_an_ack_wakes_a_consumer_at_its_prefetch_limit() -> None:
    queue = _queue()
    got: list[tuple[float, Any]] = []
    with (
        _connection() as conn,
        conn.Consumer(queue, callbacks=[_receiver(got, ack=False)], prefetch_count=1),
    ):
        _publish(queue, 1)
        _publish(queue, 2)
        conn.drain_events(timeout=1)  # the first: the window is now full
        thread, raised = _drain_in_thread(conn, timeout=5)
        assert len(got) == 1
        acked = time.monotonic()
        got[0][1].ack()
        thread.join(5)
    assert raised == [] and len(got) == 2
    assert got[1][0] - acked < PROMPT


def test_closing_wakes_a_consumer_waiting_without_a_timeout() -> None:
    conn = _connection()
    with conn.Consumer(_queue(), callbacks=[_receiver([])]):
        thread, raised = _drain_in_thread(conn, timeout=None)
        closed = time.monotonic()
        conn.close()
        thread.join(5)
    assert not thread.is_alive() and time.monotonic() - closed < PROMPT
    assert [type(exc) for exc in raised] == [TimeoutError]  # what a worker's loop expects


def test_nothing_to_take_times_out_as_kombu_does() -> None:
    with _connection() as conn, conn.Consumer(_queue(), callbacks=[_receiver([])]):
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            conn.drain_events(timeout=0.2)
    assert 0.2 <= time.monotonic() - started < 0.2 + PROMPT


def test_priorities_then_fifo_order_what_waits() -> None:
    queue = _queue()
    sent = [(n, n % 3 * 3) for n in range(12)]  # priorities 0, 3, 6 interleaved
    for n, priority in sent:
        _publish(queue, n, priority)
    got: list[tuple[float, Any]] = []
    with _connection() as conn, conn.Consumer(queue, callbacks=[_receiver(got)]):
        for _ in sent:
            conn.drain_events(timeout=1)
    expected = [n for n, _ in sorted(sent, key=lambda s: (-s[1], s[0]))]
    assert [n for _, n in got] == expected


# -- the embedded worker -------------------------------------------------------------------


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[tuple[Runtime, EmbeddedWorker]]:
    rt = build_runtime(Settings(data_dir=tmp_path / "data"))
    worker = EmbeddedWorker(rt.celery, 2)
    worker.start()
    yield rt, worker
    worker.stop()
    rt.close()


def test_the_embedded_worker_stops_at_once_when_idle(
    worker: tuple[Runtime, EmbeddedWorker],
) -> None:
    _, embedded = worker
    time.sleep(0.5)  # started and waiting for messages
    started = time.monotonic()
    embedded.stop()
    assert not embedded._thread.is_alive() and time.monotonic() - started < 0.5


def test_a_steps_header_reaches_the_claim(
    worker: tuple[Runtime, EmbeddedWorker], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The publisher marks a pipeline step's message; the worker claims it as a step first."""
    seen: dict[str, bool] = {}

    def run_delivery(ctx: Any, spec: Any, task_id: str, *args: Any, step: bool) -> None:
        seen[task_id] = step

    monkeypatch.setattr(engine_app, "run_delivery", run_delivery)
    rt, _ = worker
    rt.celery.send_task("core.noop", task_id="a-step", headers={STEP_HEADER: True})
    rt.celery.send_task("core.noop", task_id="a-task")
    assert wait_for(lambda: len(seen) == 2, timeout=10), seen
    assert seen == {"a-step": True, "a-task": False}
