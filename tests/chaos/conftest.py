"""Hubs with short leases and heartbeat timeouts, each test its own: faults are injected."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis as redis_client

from tests.harness.servers import PostgresServer, RabbitMQServer, RedisServer
from tests.integration.hubs import Hub, split_hub

FAST_RESCUE = {
    "COREHUB_WORKER__HEARTBEAT_SECONDS": "0.5",
    "COREHUB_SCHEDULER__HEARTBEAT_TIMEOUT_SECONDS": "2",
    "COREHUB_SCHEDULER__LEASE_TTL_SECONDS": "2",
    "COREHUB_SCHEDULER__TICK_SECONDS": "0.2",
}
BROKERS = [
    pytest.param("redis", marks=pytest.mark.servers),
    pytest.param("rabbitmq", marks=pytest.mark.servers),
]
HubFactory = Callable[..., Hub]


@pytest.fixture(params=BROKERS)
def broker_url(request: pytest.FixtureRequest) -> str:
    """A fresh namespace on each real broker (Redis database, RabbitMQ vhost)."""
    if request.param == "redis":
        redis: RedisServer = request.getfixturevalue("redis_server")
        url = redis.url_for_db(15)
        redis_client.Redis.from_url(url).flushdb()
        return url
    rabbit: RabbitMQServer = request.getfixturevalue("rabbitmq_server")
    return rabbit.add_vhost(f"chaos-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def make_hub(
    tmp_path: Path, postgres_server: PostgresServer, broker_url: str
) -> Iterator[HubFactory]:
    hubs: list[Hub] = []

    def make(**options: object) -> Hub:
        db_url = postgres_server.create_database(f"chaos_{uuid.uuid4().hex[:10]}")
        workdir = tmp_path / f"hub{len(hubs)}"
        workdir.mkdir()
        hub = split_hub(workdir, db_url, broker_url, env=FAST_RESCUE, **options)  # type: ignore[arg-type]
        hubs.append(hub)
        hub.start()
        return hub

    yield make
    for hub in hubs:
        hub.stop()
