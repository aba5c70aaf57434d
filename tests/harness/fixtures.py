"""Pytest plugin: session-scoped real servers, each started only if a test asks for it."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.servers import PostgresServer, RabbitMQServer, RedisServer, ensure_packages


@pytest.fixture(scope="session")
def servers_root() -> Iterator[Path]:
    """A 0755 dir under /tmp: postgres/rabbitmq run as their own users and cannot enter
    pytest's 0700 tmp dirs. Set COREHUB_KEEP_SERVER_DIRS=1 to keep the logs."""
    root = Path(tempfile.mkdtemp(prefix="corehub-servers-", dir="/tmp"))
    root.chmod(0o755)
    yield root
    if not os.environ.get("COREHUB_KEEP_SERVER_DIRS"):
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server(servers_root: Path) -> Iterator[RedisServer]:
    ensure_packages()
    with RedisServer(servers_root / "redis") as server:
        yield server


@pytest.fixture(scope="session")
def postgres_server(servers_root: Path) -> Iterator[PostgresServer]:
    ensure_packages()
    with PostgresServer(servers_root / "postgres") as server:
        yield server


@pytest.fixture(scope="session")
def rabbitmq_server(servers_root: Path) -> Iterator[RabbitMQServer]:
    ensure_packages()
    with RabbitMQServer(servers_root / "rabbitmq") as server:
        yield server
