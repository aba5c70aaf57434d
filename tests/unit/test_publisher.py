"""CeleryPublisher on the in-process broker: messages as send_task builds them, priorities,
and the per-message path for whatever the batch path does not reproduce or fails to send."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from queue import Empty
from typing import Any

import pytest
from celery._state import _task_stack
from celery.signals import before_task_publish
from kombu import Producer
from kombu.entity import Exchange, Queue

from corehub.config import Settings
from corehub.config.settings import DatabaseSettings
from corehub.engine import CorehubCelery, EngineContext, create_celery
from corehub.engine.headers import ARGUMENTS_NOT_REPEATED, RECORDED_HEADER
from corehub.engine.publisher import CeleryPublisher
from corehub.registry import Registry
from corehub.store import Database, TaskRecord, TaskStore
from corehub.store.states import TaskStatus
from tests.unit.helpers import run_python


def record(
    name: str = "probe.record",
    *,
    queue: str,
    priority: str = "default",
    args: list[Any] | None = None,
    kwargs: dict[str, Any] | None = None,
    **extra: Any,
) -> TaskRecord:
    """A committed task row as the store hands it to the publisher."""
    now = datetime.now(UTC)
    values: dict[str, Any] = dict.fromkeys((f.name for f in fields(TaskRecord)), None)
    values.update(
        id=str(uuid.uuid4()),
        name=name,
        args=args if args is not None else [],
        kwargs=kwargs if kwargs is not None else {},
        status=TaskStatus.QUEUED,
        queue=queue,
        priority=priority,
        attempt=0,
        max_attempts=3,
        created_at=now,
        updated_at=now,
        gated=False,
        **extra,
    )
    return TaskRecord(**values)


def send_task(app: CorehubCelery, publisher: CeleryPublisher, task: TaskRecord) -> None:
    """The reference: one send_task per task, as publishing worked before batching, with the
    header that says the task has its row."""
    with app.producer_or_acquire() as producer:
        app.send_task(
            task.name,
            args=task.args,
            kwargs=task.kwargs,
            task_id=task.id,
            queue=task.queue,
            priority=publisher.levels.get(task.priority),
            soft_time_limit=task.soft_time_limit,
            time_limit=task.time_limit,
            producer=producer,
            retry=True,
            retry_policy=publisher.retry_policy,
            headers={RECORDED_HEADER: True},
            **ARGUMENTS_NOT_REPEATED,
        )


def drain(app: CorehubCelery, queue: str) -> list[Any]:
    """Every message waiting on `queue`, in the order a worker would receive them."""
    messages: list[Any] = []
    with app.connection_for_read() as conn, conn.SimpleQueue(app.amqp.queues[queue]) as simple:
        while True:
            try:
                message = simple.get(block=False)
            except Empty:
                return messages
            message.ack()
            messages.append(message)


def fingerprint(message: Any) -> dict[str, Any]:
    """What a worker sees of a message, without the per-delivery tag; the body decoded (the
    batch's JSON is compact, send_task's has spaces)."""
    return {
        "headers": message.headers,
        "properties": {k: v for k, v in message.properties.items() if k != "delivery_tag"},
        "delivery_info": message.delivery_info,
        "body": message.decode(),
        "content_type": message.content_type,
        "content_encoding": message.content_encoding,
    }


def _noop() -> None:
    """A Celery task body where only the task's options matter."""


@pytest.fixture
def app(tmp_path: Path) -> Iterator[CorehubCelery]:
    settings = Settings(database=DatabaseSettings(url=f"sqlite:///{tmp_path / 'hub.db'}"))
    db = Database(settings.database.url)
    yield create_celery(EngineContext(settings, Registry(), TaskStore(db)))
    db.dispose()


@pytest.fixture
def publisher(app: CorehubCelery) -> CeleryPublisher:
    assert isinstance(app.context.publisher, CeleryPublisher)
    return app.context.publisher


@pytest.fixture
def queue() -> str:
    """A queue of its own: the in-process broker's queues are shared by the whole process."""
    return f"pub-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def send_task_calls(app: CorehubCelery, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Ids sent through app.send_task, which still sends them."""
    calls: list[str] = []
    original = app.send_task

    def spy(name: str, **options: Any) -> Any:
        calls.append(options["task_id"])
        return original(name, **options)

    monkeypatch.setattr(app, "send_task", spy)
    return calls


def test_a_batch_arrives_whole_with_priorities_ordered(
    app: CorehubCelery, publisher: CeleryPublisher, queue: str, send_task_calls: list[str]
) -> None:
    lows = [record(queue=queue, priority="low", args=[i], kwargs={"i": i}) for i in range(3)]
    highs = [record(queue=queue, priority="high", args=[i], kwargs={"i": i}) for i in range(3)]
    limited = record(queue=queue, soft_time_limit=1.5, time_limit=3.0)
    tasks = [*lows, limited, *highs]

    assert publisher.publish(tasks) == [t.id for t in tasks]

    messages = drain(app, queue)
    assert [m.headers["id"] for m in messages] == [t.id for t in [*highs, limited, *lows]]
    by_id = {t.id: t for t in tasks}
    for message in messages:
        task = by_id[message.headers["id"]]
        args, kwargs, _embed = message.decode()
        assert (message.headers["task"], args, kwargs) == (task.name, task.args, task.kwargs)
        assert message.delivery_info["routing_key"] == queue
        assert message.properties["priority"] == publisher.levels[task.priority]
        assert message.headers["timelimit"] == [task.time_limit, task.soft_time_limit]
    assert send_task_calls == []  # the batch path sent them all


@pytest.mark.parametrize("in_worker", [False, True], ids=["client", "inside-a-task"])
def test_batched_messages_are_the_ones_send_task_sends(
    app: CorehubCelery, publisher: CeleryPublisher, queue: str, in_worker: bool
) -> None:
    tasks = [
        record(queue=queue, priority=name, args=[1, "two"], kwargs={"k": [3]}, time_limit=9.0)
        for name in publisher.levels
    ]
    parent = app.task(name="probe.parent", shared=False)(_noop)
    if in_worker:  # a finishing task releasing its pipeline's next steps
        parent.push_request(id="parent-id", root_id="root-id", called_directly=False)
        _task_stack.push(parent)
    try:
        for task in tasks:
            send_task(app, publisher, task)
        expected = [fingerprint(m) for m in drain(app, queue)]
        assert publisher.publish(tasks) == [t.id for t in tasks]
        got = [fingerprint(m) for m in drain(app, queue)]
    finally:
        if in_worker:
            _task_stack.pop()
            parent.pop_request()

    assert got == expected
    assert {m["headers"]["parent_id"] for m in got} == ({"parent-id"} if in_worker else {None})


def test_arguments_travel_in_the_body_and_never_in_the_headers(
    app: CorehubCelery, publisher: CeleryPublisher, queue: str
) -> None:
    secret = "alice@example.com"
    batched = record(queue=queue, args=[secret], kwargs={"email": secret})
    alone = record(queue=queue, args=[secret], kwargs={"email": secret})
    assert publisher.publish([batched]) == [batched.id]
    with app.producer_or_acquire() as producer:
        publisher._send_one(producer, alone)
    messages = drain(app, queue)
    assert len(messages) == 2
    for message in messages:
        assert secret not in json.dumps(message.headers)
        args, kwargs, _ = message.decode()
        assert (args, kwargs) == ([secret], {"email": secret})


def _routes(app: CorehubCelery, queue: str) -> None:
    app.conf.task_routes = {"probe.*": {"queue": queue}}
    app.amqp.flush_routes()


def _own_options(app: CorehubCelery, queue: str) -> None:
    app.task(name="probe.record", shared=False, expires=3600)(_noop)
    app.finalize()


def _topic_exchange(app: CorehubCelery, queue: str) -> None:
    exchange = Exchange(queue, type="topic")  # type: ignore[no-untyped-call]
    app.amqp.queues.add(Queue(queue, exchange, routing_key=queue))  # type: ignore[no-untyped-call]


@pytest.mark.parametrize("setup", [_routes, _own_options, _topic_exchange])
def test_what_the_batch_cannot_reproduce_goes_through_send_task(
    app: CorehubCelery,
    publisher: CeleryPublisher,
    queue: str,
    send_task_calls: list[str],
    setup: Any,
) -> None:
    setup(app, queue)
    tasks = [record(queue=queue, args=[i]) for i in range(3)]

    assert publisher.publish(tasks) == [t.id for t in tasks]

    assert send_task_calls == [t.id for t in tasks]
    assert [m.headers["id"] for m in drain(app, queue)] == [t.id for t in tasks]


def test_a_listener_to_celerys_publish_signals_gets_every_message(
    app: CorehubCelery, publisher: CeleryPublisher, queue: str, send_task_calls: list[str]
) -> None:
    """Tracing hooks add headers in before_task_publish: the batch leaves them to send_task."""
    seen: list[str] = []

    def listener(headers: dict[str, Any], **_: Any) -> None:
        seen.append(headers["id"])
        headers["traceparent"] = "00-trace"

    tasks = [record(queue=queue, args=[i]) for i in range(3)]
    before_task_publish.connect(listener, weak=False)
    try:
        assert publisher.publish(tasks) == [t.id for t in tasks]
    finally:
        before_task_publish.disconnect(listener)

    assert send_task_calls == seen == [t.id for t in tasks]
    assert {m.headers["traceparent"] for m in drain(app, queue)} == {"00-trace"}


def test_a_failed_chunk_is_sent_again_one_by_one(
    app: CorehubCelery,
    publisher: CeleryPublisher,
    queue: str,
    send_task_calls: list[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    publisher.batch_size = 2
    tasks = [record(queue=queue, args=[i]) for i in range(5)]
    publish = Producer.publish
    calls = 0

    def fail_third(producer: Producer, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise ConnectionResetError("broker went away")
        return publish(producer, *args, **kwargs)

    monkeypatch.setattr(Producer, "publish", fail_third)
    with caplog.at_level(logging.WARNING, "corehub.engine"):
        assert publisher.publish(tasks) == [t.id for t in tasks]

    assert send_task_calls == [t.id for t in tasks[2:]]  # the first chunk was handed over
    assert [m.headers["id"] for m in drain(app, queue)] == [t.id for t in tasks]
    assert "batched publish stopped after 2 of 5 tasks" in caplog.text


def test_a_task_that_cannot_be_sent_stops_the_batch_without_raising(
    app: CorehubCelery,
    publisher: CeleryPublisher,
    queue: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tasks = [record(queue=queue, args=[i]) for i in range(4)]
    tasks[2] = record(queue=queue, kwargs={"not_json": object()})

    with caplog.at_level(logging.WARNING, "corehub.engine"):
        assert publisher.publish(tasks) == [t.id for t in tasks[:2]]

    assert "broker publish failed after 2 of 4 tasks" in caplog.text
    drain(app, queue)


def test_an_in_process_hub_that_publishes_never_loads_redis(tmp_path: Path) -> None:
    """The Redis push is chosen by the channel publishing, without importing kombu's Redis
    transport (and redis-py) into hubs that do not use Redis."""
    script = f"""
import sys
from corehub.config import Settings
from corehub.config.settings import DatabaseSettings
from corehub.engine import EngineContext, create_celery
from corehub.registry import Registry
from corehub.store import Database, TaskStore
from tests.unit.test_publisher import record

settings = Settings(database=DatabaseSettings(url="sqlite:///{tmp_path / "hub.db"}"))
app = create_celery(EngineContext(settings, Registry(), TaskStore(Database(settings.database.url))))
tasks = [record(queue="celery") for _ in range(3)]
assert app.context.publisher.publish(tasks) == [t.id for t in tasks]
print(sorted(name for name in ("redis", "kombu.transport.redis") if name in sys.modules))
"""
    done = run_python("-c", script, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
