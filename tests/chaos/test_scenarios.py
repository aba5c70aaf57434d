"""Every chaos scenario at small scale: nothing lost, nothing done twice, only legal moves.

The full run, with a table: `python -m tests.chaos.run` (see README).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chaos.scenarios import SCENARIOS, ChaosEnv
from tests.harness.servers import PostgresServer, RedisServer

SMALL = 20


@pytest.fixture(scope="module")
def chaos_env(
    postgres_server: PostgresServer, redis_server: RedisServer, request: pytest.FixtureRequest
) -> Iterator[ChaosEnv]:
    root = Path(tempfile.mkdtemp(prefix="corehub-chaos-", dir="/tmp"))
    root.chmod(0o755)
    env = ChaosEnv(
        root,
        postgres_server,
        redis_server,
        rabbitmq=lambda: request.getfixturevalue("rabbitmq_server"),
    )
    yield env
    env.close()


@pytest.mark.servers
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario_loses_nothing_and_does_nothing_twice(chaos_env: ChaosEnv, name: str) -> None:
    report = SCENARIOS[name](chaos_env, SMALL)
    chaos_env.close()
    assert report.ok, report
