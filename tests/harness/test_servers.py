"""Prove the harness starts real servers and that crash/restart behave like production."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import kombu
import psycopg
import pytest
import redis
import sqlalchemy as sa

from tests.harness.servers import (
    PostgresServer,
    RabbitMQServer,
    RedisServer,
    _alive,
    ensure_packages,
)

pytestmark = pytest.mark.servers


def _amqp(url: str, **options: Any) -> Any:
    """kombu ships no type hints; keep the untyped call in one place."""
    return kombu.Connection(url, **options)  # type: ignore[attr-defined,no-untyped-call]


@pytest.fixture
def own_dir(servers_root: Path, request: pytest.FixtureRequest) -> Path:
    """Private dir for tests that need their own server instance (crash tests)."""
    ensure_packages()
    return servers_root / re.sub(r"\W+", "_", request.node.name)


def test_redis_set_get_and_db_isolation(redis_server: RedisServer) -> None:
    with (
        redis.Redis.from_url(redis_server.url) as db0,
        redis.Redis.from_url(redis_server.url_for_db(1)) as db1,
    ):
        db0.set("k", "v0")
        assert db0.get("k") == b"v0"
        assert db1.get("k") is None


@pytest.mark.parametrize("persistent", [True, False])
def test_redis_kill_restart(own_dir: Path, persistent: bool) -> None:
    with RedisServer(own_dir, persistent=persistent) as server:
        port = server.port
        with redis.Redis.from_url(server.url) as client:
            client.set("k", "v")
        old_pid = server.pid
        assert old_pid is not None
        server.kill()
        assert server.pid is None and not _alive(old_pid)
        server.restart()
        assert server.port == port
        with redis.Redis.from_url(server.url) as client:
            assert client.get("k") == (b"v" if persistent else None)
    assert server.pid is None


def test_redis_pause_resume(redis_server: RedisServer) -> None:
    redis_server.pause()
    try:
        with (
            redis.Redis.from_url(redis_server.url, socket_timeout=0.3) as client,
            pytest.raises(redis.TimeoutError),
        ):
            client.ping()
    finally:
        redis_server.resume()
    with redis.Redis.from_url(redis_server.url) as client:
        assert client.ping()


def test_postgres_database_roundtrip(postgres_server: PostgresServer) -> None:
    name = f"t_{uuid.uuid4().hex[:8]}"
    url = postgres_server.create_database(name)
    assert url == f"postgresql+psycopg://app@127.0.0.1:{postgres_server.port}/{name}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (id int PRIMARY KEY, v text)"))
        conn.execute(sa.text("INSERT INTO t VALUES (1, 'a'), (2, 'b')"))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT v FROM t ORDER BY id")).scalars().all() == ["a", "b"]
    engine.dispose()
    with psycopg.connect(postgres_server.conninfo(name)):  # open session must not block drop
        postgres_server.drop_database(name)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(postgres_server.conninfo(name)).close()


def test_postgres_kill_and_crash_keep_committed_rows(own_dir: Path) -> None:
    with PostgresServer(own_dir, durable=True) as server:
        url = server.create_database("app")
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE t (id int)"))
            conn.execute(sa.text("INSERT INTO t VALUES (1)"))
        engine.dispose()
        server.kill()
        assert server.pid is None
        server.restart()
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO t VALUES (2)"))
        engine.dispose()
        server.crash()
        server.restart()
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT id FROM t ORDER BY id")).scalars().all() == [1, 2]
        engine.dispose()


def test_rabbitmq_publish_consume_in_vhost(rabbitmq_server: RabbitMQServer) -> None:
    url = rabbitmq_server.add_vhost("corehub-v1")
    assert url.endswith(f":{rabbitmq_server.port}/corehub-v1")
    with _amqp(url) as conn:
        queue = conn.SimpleQueue("harness-plain")
        queue.put({"n": 1})
        message = queue.get(timeout=5)
        assert message.payload == {"n": 1}
        message.ack()
        queue.close()


def _publish(server: RabbitMQServer, body: dict[str, int]) -> None:
    """Publish persistently with confirms, so the broker has it on disk when this returns."""
    with _amqp(server.url, transport_options={"confirm_publish": True}) as conn:
        queue = conn.SimpleQueue("harness-durable", queue_opts={"durable": True})
        queue.put(body, delivery_mode=2)
        queue.close()


def _consume(server: RabbitMQServer) -> object:
    with _amqp(server.url) as conn:
        queue = conn.SimpleQueue("harness-durable", queue_opts={"durable": True})
        message = queue.get(timeout=5)
        message.ack()
        queue.close()
        return message.payload


def test_rabbitmq_durable_message_survives_restart_and_kill(
    rabbitmq_server: RabbitMQServer,
) -> None:
    port = rabbitmq_server.port
    _publish(rabbitmq_server, {"n": 1})
    rabbitmq_server.restart()
    assert _consume(rabbitmq_server) == {"n": 1}
    _publish(rabbitmq_server, {"n": 2})
    rabbitmq_server.kill()
    assert rabbitmq_server.pid is None
    rabbitmq_server.start()
    assert rabbitmq_server.port == port
    assert _consume(rabbitmq_server) == {"n": 2}
