"""Hubs per backend combination. The same behavioural tests run on each."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.servers import PostgresServer, RabbitMQServer, RedisServer
from tests.integration.hubs import Hub, embedded_hub, running, split_hub

MODES = [
    "embedded",
    pytest.param("postgres+redis", marks=pytest.mark.servers),
    pytest.param("postgres+rabbitmq", marks=pytest.mark.servers),
]
SHARED_BROKER_MODES = MODES[1:]
_redis_dbs = itertools.count(1)


def make_hub(mode: str, workdir: Path, request: pytest.FixtureRequest, *, workers: int = 1) -> Hub:
    """A hub of `mode` with its own database and its own broker namespace."""
    if mode == "embedded":
        return embedded_hub(workdir)
    postgres: PostgresServer = request.getfixturevalue("postgres_server")
    db_url = postgres.create_database(f"hub_{uuid.uuid4().hex[:10]}")
    if mode == "postgres+redis":
        redis: RedisServer = request.getfixturevalue("redis_server")
        broker = redis.url_for_db(next(_redis_dbs) % 16)
    else:
        rabbit: RabbitMQServer = request.getfixturevalue("rabbitmq_server")
        broker = rabbit.add_vhost(f"hub-{uuid.uuid4().hex[:8]}")
    return split_hub(workdir, db_url, broker, workers=workers)


@pytest.fixture(scope="module", params=MODES)
def hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """One hub per mode, shared by a module's tests (they use their own task ids)."""
    workdir = tmp_path_factory.mktemp(f"hub-{request.param.replace('+', '-')}")
    yield from running(make_hub(request.param, workdir, request, workers=2))


@pytest.fixture(scope="module", params=SHARED_BROKER_MODES)
def shared_broker_hub(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Hub]:
    workdir = tmp_path_factory.mktemp(f"hub-{request.param.replace('+', '-')}")
    yield from running(make_hub(request.param, workdir, request))
