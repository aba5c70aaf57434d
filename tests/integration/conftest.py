"""Hubs per backend combination. The same behavioural tests run on each."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.servers import PostgresServer, RabbitMQServer, RedisServer
from tests.integration.hubs import Hub, embedded_hub, split_hub

MODES = [
    "embedded",
    pytest.param("sqlite+redis", marks=pytest.mark.servers),
    pytest.param("postgres+redis", marks=pytest.mark.servers),
    pytest.param("postgres+rabbitmq", marks=pytest.mark.servers),
]
SHARED_BROKER_MODES = MODES[1:]
_redis_dbs = itertools.count(1)


def make_hub(mode: str, workdir: Path, request: pytest.FixtureRequest, *, workers: int = 1) -> Hub:
    """A hub of `mode` with its own database and its own broker namespace."""
    if mode == "embedded":
        return embedded_hub(workdir)
    if mode == "sqlite+redis":
        redis_: RedisServer = request.getfixturevalue("redis_server")
        db = f"sqlite:///{workdir / 'hub.db'}"
        return split_hub(workdir, db, redis_.url_for_db(next(_redis_dbs) % 16), workers=workers)
    postgres: PostgresServer = request.getfixturevalue("postgres_server")
    db_url = postgres.create_database(f"hub_{uuid.uuid4().hex[:10]}")
    if mode == "postgres+redis":
        redis: RedisServer = request.getfixturevalue("redis_server")
        broker = redis.url_for_db(next(_redis_dbs) % 16)
    else:
        rabbit: RabbitMQServer = request.getfixturevalue("rabbitmq_server")
        broker = rabbit.add_vhost(f"hub-{uuid.uuid4().hex[:8]}")
    return split_hub(workdir, db_url, broker, workers=workers)


class HubPool:
    """Hubs started on first use and kept while this package's tests run: a hub takes
    seconds to start. They stop when the package ends, their idle ticking no longer taking
    CPU from the tests that follow."""

    def __init__(self, request: pytest.FixtureRequest, factory: pytest.TempPathFactory) -> None:
        self.request = request
        self.factory = factory
        self.hubs: dict[str, Hub] = {}

    def get(self, mode: str) -> Hub:
        if mode not in self.hubs:
            workdir = self.factory.mktemp(f"hub-{mode.replace('+', '-')}")
            hub = make_hub(mode, workdir, self.request, workers=2)
            hub.start()
            self.hubs[mode] = hub
        return self.hubs[mode]

    def stop(self) -> None:
        for hub in self.hubs.values():
            hub.stop()


@pytest.fixture(scope="package")
def hub_pool(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HubPool]:
    pool = HubPool(request, tmp_path_factory)
    yield pool
    pool.stop()


@pytest.fixture(params=MODES)
def hub(request: pytest.FixtureRequest, hub_pool: HubPool) -> Hub:
    """A running hub of each mode (shared between tests, which use their own task ids)."""
    return hub_pool.get(request.param)


@pytest.fixture(params=SHARED_BROKER_MODES)
def shared_broker_hub(request: pytest.FixtureRequest, hub_pool: HubPool) -> Hub:
    """A running hub whose broker a plain Celery client can reach."""
    return hub_pool.get(request.param)
