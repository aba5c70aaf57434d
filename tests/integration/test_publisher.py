"""CeleryPublisher against real Redis and RabbitMQ: a plain Celery worker runs what a batch
publishes (highest priority first), the messages are byte for byte what send_task sends, a
Redis batch costs one round trip per chunk, and a lost broker shortens the result without
raising."""

from __future__ import annotations

import base64
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import amqp
import pytest
import redis
from kombu import Producer
from redis.connection import AbstractConnection

from corehub.config.settings import BrokerSettings
from corehub.engine import CorehubCelery, redis_lists
from corehub.engine.publisher import CeleryPublisher
from tests.harness.servers import RabbitMQServer, RedisServer, free_port
from tests.unit.helpers import celery_app
from tests.unit.test_amqp_messages import sent_properties
from tests.unit.test_publisher import drain, record, send_task

pytestmark = pytest.mark.servers

REDIS_DB = 15  # queue names are unique per test, so nothing is flushed

# A plain Celery worker: no corehub code, only what a Celery client would configure.
PROBE = textwrap.dedent(
    """
    import json, os
    from celery import Celery

    app = Celery("probe", broker=os.environ["PROBE_BROKER"])
    app.conf.update(
        task_acks_late=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        accept_content=["json"],
        task_queue_max_priority=int(os.environ["PROBE_MAX_PRIORITY"]) or None,
    )

    @app.task(name="probe.record", bind=True)
    def record(self, *args, **kwargs):
        request = self.request
        seen = {
            "id": request.id,
            "task": request.task,
            "args": list(args),
            "kwargs": kwargs,
            "queue": request.delivery_info.get("routing_key"),
            "timelimit": list(request.timelimit or ()),
        }
        with open(os.environ["PROBE_OUT"], "a") as out:
            out.write(json.dumps(seen) + "\\n")
    """
)


def make_app(broker: str, workdir: Path, **broker_settings: Any) -> CorehubCelery:
    return celery_app(BrokerSettings(url=broker, **broker_settings), workdir)


def publisher_of(app: CorehubCelery) -> CeleryPublisher:
    assert isinstance(app.context.publisher, CeleryPublisher)
    return app.context.publisher


@pytest.fixture(params=["redis", "rabbitmq"])
def broker(request: pytest.FixtureRequest) -> str:
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        return server.url_for_db(REDIS_DB)
    rabbit: RabbitMQServer = request.getfixturevalue("rabbitmq_server")
    return rabbit.add_vhost(f"pub-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def queue() -> str:
    return f"pub-{uuid.uuid4().hex[:8]}"


def run_probe_worker(
    broker: str, queue: str, max_priority: int, workdir: Path, count: int
) -> list[Any]:
    """Start a plain `celery worker` on `queue` (one slot), return the first `count` tasks it
    ran, in the order it ran them, and stop it."""
    (workdir / "probe.py").write_text(PROBE)
    out = workdir / f"seen-{uuid.uuid4().hex[:6]}.jsonl"
    out.touch()
    env = {
        **os.environ,
        "PYTHONPATH": str(workdir),
        "PROBE_BROKER": broker,
        "PROBE_MAX_PRIORITY": str(max_priority),
        "PROBE_OUT": str(out),
    }
    argv = [sys.executable, "-m", "celery", "-A", "probe", "worker", "-Q", queue, "-c", "1"]
    argv += ["-P", "threads", "--without-gossip", "--without-mingle", "--without-heartbeat"]
    argv += ["-n", f"probe-{uuid.uuid4().hex[:6]}@%h", "--loglevel", "WARNING"]
    log = workdir / "probe.log"
    with log.open("ab") as sink:
        worker = subprocess.Popen(argv, cwd=workdir, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while len(lines := out.read_text().splitlines()) < count:
            assert worker.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.1)
        return [json.loads(line) for line in lines]
    finally:
        worker.send_signal(signal.SIGQUIT)  # cold shutdown: what it ran is already recorded
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def test_a_plain_celery_worker_runs_a_batch_highest_priority_first(
    broker: str, queue: str, tmp_path: Path
) -> None:
    app = make_app(broker, tmp_path, priority_queues=True)  # RabbitMQ: x-max-priority queues
    publisher = publisher_of(app)
    lows = [record(queue=queue, priority="low", args=[i], kwargs={"i": i}) for i in range(5)]
    defaults = [record(queue=queue, args=[i, "x"], time_limit=30.0) for i in range(2)]
    highs = [
        record(queue=queue, priority="high", kwargs={"h": i}, soft_time_limit=5.0, time_limit=9.0)
        for i in range(5)
    ]
    tasks = [*lows, *defaults, *highs]  # one batch, lowest first, nobody consuming yet

    assert publisher.publish(tasks) == [t.id for t in tasks]

    seen = run_probe_worker(broker, queue, max(publisher.levels.values()), tmp_path, len(tasks))
    assert [s["id"] for s in seen] == [t.id for t in [*highs, *defaults, *lows]]
    expected = {
        t.id: {
            "id": t.id,
            "task": t.name,
            "args": t.args,
            "kwargs": t.kwargs,
            "queue": queue,
            "timelimit": [t.time_limit, t.soft_time_limit],
        }
        for t in tasks
    }
    assert {s["id"]: s for s in seen} == expected


def _comparable(message: Any) -> dict[str, Any]:
    """What a worker sees of a message, without what differs per delivery; the body decoded
    (the batch's JSON is compact, send_task's has spaces)."""
    per_delivery = {"delivery_tag", "consumer_tag", "redelivered"}
    return {
        "headers": message.headers,
        "properties": {k: v for k, v in message.properties.items() if k not in per_delivery},
        "delivery_info": {k: v for k, v in message.delivery_info.items() if k not in per_delivery},
        "body": message.decode(),
    }


def test_batched_messages_are_the_ones_send_task_sends(
    broker: str, queue: str, tmp_path: Path
) -> None:
    app = make_app(broker, tmp_path)
    publisher = publisher_of(app)
    tasks = [
        record(queue=queue, priority=name, args=[1, "two"], kwargs={"k": [3]}, time_limit=9.0)
        for name in publisher.levels
    ]
    for task in tasks:
        send_task(app, publisher, task)
    raw_before = _raw_lists(broker, queue)
    expected = [_comparable(m) for m in drain(app, queue)]

    assert publisher.publish(tasks) == [t.id for t in tasks]

    assert (
        _raw_lists(broker, queue) == raw_before
    )  # Redis: the same list per priority, the same JSON
    assert [_comparable(m) for m in drain(app, queue)] == expected


def test_a_rabbitmq_batch_goes_to_py_amqp_without_kombus_publish(
    rabbitmq_server: RabbitMQServer, queue: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(rabbitmq_server.add_vhost(f"pub-{uuid.uuid4().hex[:8]}"), tmp_path)
    publisher = publisher_of(app)
    calls: list[Any] = []
    monkeypatch.setattr(Producer, "publish", lambda *a, **k: calls.append(a))
    tasks = [record(queue=queue, args=[i]) for i in range(3)]

    assert publisher.publish(tasks) == [t.id for t in tasks]

    assert calls == []
    assert [m.headers["id"] for m in drain(app, queue)] == [t.id for t in tasks]


def test_a_rabbitmq_channel_in_confirm_mode_waits_for_each_messages_confirm(
    rabbitmq_server: RabbitMQServer, queue: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(rabbitmq_server.add_vhost(f"pub-{uuid.uuid4().hex[:8]}"), tmp_path)
    app.conf.broker_transport_options = {"confirm_publish": True}
    publisher = publisher_of(app)
    confirmed: list[str] = []
    original = amqp.Channel.basic_publish_confirm

    def confirm(self: amqp.Channel, message: Any, *args: Any, **kwargs: Any) -> Any:
        confirmed.append(sent_properties(message)["correlation_id"])
        return original(self, message, *args, **kwargs)

    monkeypatch.setattr(amqp.Channel, "basic_publish_confirm", confirm)
    tasks = [record(queue=queue, args=[i]) for i in range(3)]

    assert publisher.publish(tasks) == [t.id for t in tasks]

    assert confirmed == [t.id for t in tasks]
    assert [m.headers["id"] for m in drain(app, queue)] == [t.id for t in tasks]


def _raw_lists(broker: str, queue: str) -> dict[str, list[Any]]:
    """Redis: each of the queue's priority lists, its envelopes without their delivery tag
    and with their bodies decoded."""
    if not broker.startswith("redis://"):
        return {}
    client = redis.Redis.from_url(broker, decode_responses=True)
    lists: dict[str, list[Any]] = {}
    for key in client.keys(f"{queue}*"):
        envelopes = [json.loads(raw) for raw in client.lrange(key, 0, -1)]
        for envelope in envelopes:
            del envelope["properties"]["delivery_tag"]
            envelope["body"] = json.loads(base64.b64decode(envelope["body"]))
        lists[str(key)] = envelopes  # str already: decode_responses
    client.close()
    return lists


def test_a_redis_batch_costs_one_round_trip_per_chunk(
    redis_server: RedisServer, queue: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = redis_server.url_for_db(REDIS_DB)
    app = make_app(broker, tmp_path)
    publisher = publisher_of(app)
    assert publisher.publish([record(queue=queue)])  # connects and declares the queue
    sends = 0
    original = AbstractConnection.send_packed_command

    def count(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
        nonlocal sends
        sends += 1
        original(self, command, check_health)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(AbstractConnection, "send_packed_command", count)
    tasks = [record(queue=queue, priority=("high", "low")[i % 2], args=[i]) for i in range(1000)]

    assert publisher.publish(tasks) == [t.id for t in tasks]

    assert sends == -(-len(tasks) // publisher.batch_size)
    monkeypatch.undo()
    assert len(drain(app, queue)) == len(tasks) + 1


def _lpushes(client: redis.Redis) -> int:
    stats: dict[str, Any] = client.info("commandstats")
    return int(stats.get("cmdstat_lpush", {}).get("calls", 0))


def test_a_redis_chunk_is_one_lpush_per_priority_list(
    redis_server: RedisServer, queue: str, tmp_path: Path
) -> None:
    broker = redis_server.url_for_db(REDIS_DB)
    app = make_app(broker, tmp_path)
    publisher = publisher_of(app)
    client = redis.Redis.from_url(broker)
    tasks = [record(queue=queue, priority=("high", "low")[i % 2], args=[i]) for i in range(1000)]
    before = _lpushes(client)

    assert publisher.publish(tasks) == [t.id for t in tasks]

    # kombu's own batch sends one LPUSH per message: 1,000 here.
    assert _lpushes(client) - before == 2 * -(-len(tasks) // publisher.batch_size)
    highs = [m.headers["id"] for m in drain(app, queue)][: len(tasks) // 2]
    assert highs == [t.id for t in tasks if t.priority == "high"]  # in order within a list
    client.close()


def test_a_queue_that_expires_is_left_to_kombu(
    redis_server: RedisServer, queue: str, tmp_path: Path
) -> None:
    app = make_app(redis_server.url_for_db(REDIS_DB), tmp_path)
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        assert redis_lists.pushes_directly(channel, [queue])
        channel._expires[queue] = 60_000  # what kombu records for a queue with x-expires
        assert not redis_lists.pushes_directly(channel, [queue])  # kombu refreshes the expiry


@pytest.mark.parametrize("scheme", ["redis", "amqp"])
def test_an_unreachable_broker_hands_over_nothing_without_raising(
    scheme: str, queue: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()  # nothing listens there
    url = (
        f"redis://127.0.0.1:{port}/0"
        if scheme == "redis"
        else f"amqp://guest:guest@127.0.0.1:{port}//"
    )
    publisher = publisher_of(make_app(url, tmp_path))

    started = time.monotonic()
    with caplog.at_level(logging.WARNING, "corehub.engine"):
        assert publisher.publish([record(queue=queue) for _ in range(3)]) == []

    assert "broker publish failed after 0 of 3 tasks" in caplog.text
    # One attempt and one retry (0.1 s apart), not kombu's default connection retries (~6 s).
    assert time.monotonic() - started < 3


@pytest.fixture
def own_redis(servers_root: Path) -> Iterator[RedisServer]:
    """A Redis this test may stop and start again."""
    with RedisServer(servers_root / f"redis-{uuid.uuid4().hex[:6]}") as server:
        yield server


def test_a_lost_redis_shortens_the_result_and_a_restarted_one_gets_the_rest(
    own_redis: RedisServer, queue: str, tmp_path: Path
) -> None:
    app = make_app(own_redis.url, tmp_path)
    publisher = publisher_of(app)
    first = [record(queue=queue, args=[i]) for i in range(3)]
    assert publisher.publish(first) == [t.id for t in first]

    own_redis.stop()
    lost = [record(queue=queue, args=[i]) for i in range(3)]
    assert publisher.publish(lost) == []  # pooled connections now fail; nothing raised

    own_redis.start()  # empty again: nothing persisted
    again = [record(queue=queue, args=[i]) for i in range(600)]
    assert publisher.publish(again) == [t.id for t in again]
    assert [m.headers["id"] for m in drain(app, queue)] == [t.id for t in again]
