"""corehub's Redis transport (`corehub.engine.redis_transport`) on a real Redis: one client
per channel, and no "unacked" bookkeeping for the messages whose rows keep them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis

from corehub.config.settings import BrokerSettings, WorkerSettings
from corehub.engine import CorehubCelery
from tests.harness.servers import RedisServer
from tests.integration.test_publisher import publisher_of
from tests.unit.helpers import celery_app
from tests.unit.test_publisher import drain, record

pytestmark = pytest.mark.servers


@pytest.fixture
def broker(redis_server: RedisServer) -> str:
    """A database hubs of other tests may share: the tests look at their own tags only."""
    return redis_server.url_for_db(7)


def make_app(broker: str, workdir: Path, *, early_ack: bool = True) -> CorehubCelery:
    return celery_app(
        BrokerSettings(url=broker), workdir, worker=WorkerSettings(early_ack=early_ack)
    )


@pytest.fixture
def queue() -> str:
    return f"rt-{uuid.uuid4().hex[:8]}"


def unacked(broker: str, *messages: Any) -> set[str]:
    """Which of these messages' delivery tags are in kombu's "unacked" hash (and its index)."""
    client = redis.Redis.from_url(broker, decode_responses=True)
    tags = {m.delivery_tag for m in messages}
    held = tags & set(client.hkeys("unacked"))
    assert held == tags & set(client.zrange("unacked_index", 0, -1))
    return held


def publish_both(app: CorehubCelery, queue: str) -> tuple[str, str]:
    """A message corehub publishes (recorded) and a plain Celery client's; their ids."""
    recorded = record(queue=queue)
    assert publisher_of(app).publish([recorded])
    plain = app.send_task("probe.plain", queue=queue, task_id=str(uuid.uuid4()))
    return recorded.id, plain.id


@contextmanager
def taking(app: CorehubCelery, queue: str) -> Iterator[Any]:
    with app.connection_for_read() as conn, conn.SimpleQueue(app.amqp.queues[queue]) as simple:
        yield simple


@pytest.mark.parametrize("early_ack", [True, False])
def test_a_message_taken_is_tracked_in_the_unacked_hash_unless_its_row_keeps_it(
    broker: str, queue: str, tmp_path: Path, early_ack: bool
) -> None:
    """With the early ack, a recorded message leaves no entry and a plain one does; without
    it, both are tracked as kombu tracks them."""
    app = make_app(broker, tmp_path, early_ack=early_ack)
    recorded, plain = publish_both(app, queue)
    with taking(app, queue) as simple:
        taken = {m.headers["id"]: m for m in (simple.get(timeout=5), simple.get(timeout=5))}
        tracked = [plain] if early_ack else [recorded, plain]
        assert unacked(broker, *taken.values()) == {taken[t].delivery_tag for t in tracked}
        for message in taken.values():
            message.ack()
        assert unacked(broker, *taken.values()) == set()
    assert drain(app, queue) == []


def test_a_recorded_message_not_acknowledged_goes_back_when_its_channel_closes(
    broker: str, queue: str, tmp_path: Path
) -> None:
    """A worker's warm stop restores what it took and did not acknowledge."""
    app = make_app(broker, tmp_path)
    recorded, plain = publish_both(app, queue)
    with taking(app, queue) as simple:
        taken = [simple.get(timeout=5), simple.get(timeout=5)]
    back = drain(app, queue)
    assert sorted(m.headers["id"] for m in back) == sorted([recorded, plain])
    assert all(m.delivery_info["redelivered"] for m in back)
    assert unacked(broker, *taken, *back) == set()


def test_a_recorded_message_rejected_for_requeue_goes_back_and_otherwise_is_gone(
    broker: str, queue: str, tmp_path: Path
) -> None:
    app = make_app(broker, tmp_path)
    kept, dropped = record(queue=queue), record(queue=queue)
    assert publisher_of(app).publish([kept, dropped])
    with taking(app, queue) as simple:
        first = simple.get(timeout=5)
        assert first.headers["id"] == kept.id
        first.reject(requeue=True)  # to the far end of its list, as kombu requeues
        second = simple.get(timeout=5)
        assert second.headers["id"] == dropped.id
        second.reject(requeue=False)
        again = simple.get(timeout=5)
        assert again.headers["id"] == kept.id and again.delivery_info["redelivered"]
        again.ack()
    assert drain(app, queue) == []
    assert unacked(broker, first, second, again) == set()


def test_a_channel_builds_one_client_for_the_calls_that_bring_none(
    broker: str, queue: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kombu's own channel builds a `redis.Redis` for each publish, each message taken and
    each acknowledged; corehub's channel keeps one."""
    app = make_app(broker, tmp_path, early_ack=False)  # every message tracked: more calls
    publisher = publisher_of(app)
    assert publisher.publish([record(queue=queue)])  # connects: its channel builds one
    built = 0
    original = redis.Redis.__init__

    def counted(self: redis.Redis, *args: Any, **kwargs: Any) -> None:
        nonlocal built
        built += 1
        original(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "__init__", counted)
    for n in range(5):
        assert publisher.publish([record(queue=queue, args=[n])])
    assert built == 0
    assert len(drain(app, queue)) == 6  # each taken and acknowledged, on a new channel
    assert built == 2  # that channel's: kombu's client for consuming, and the shared one


def test_a_push_back_redis_refuses_keeps_the_message_for_the_next_restore(
    broker: str, queue: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(broker, tmp_path)
    task = record(queue=queue)
    assert publisher_of(app).publish([task])
    with taking(app, queue) as simple:
        message = simple.get(timeout=5)
        channel = simple.consumer.channel

        def refuse(*args: Any, **kwargs: Any) -> None:
            raise redis.ConnectionError("refused")

        monkeypatch.setattr(channel, "_do_restore_message", refuse)
        with pytest.raises(redis.ConnectionError):
            message.reject(requeue=True)
        assert message.delivery_tag in channel.qos._untracked
        monkeypatch.undo()
    # The channel's close restores what it still holds.
    assert [m.headers["id"] for m in drain(app, queue)] == [task.id]
