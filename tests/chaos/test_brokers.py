"""Brokers and the database go away; accepted work still ends, exactly once."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from tests.chaos.conftest import FAST_RESCUE
from tests.harness.servers import PostgresServer, RedisServer
from tests.integration.hubs import split_hub

pytestmark = pytest.mark.servers


def test_tasks_lost_by_a_broker_restart_without_persistence_are_redelivered(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    redis = RedisServer(tmp_path / "redis", persistent=False)
    redis.start()
    db_url = postgres_server.create_database(f"chaos_{uuid.uuid4().hex[:10]}")
    (tmp_path / "hub").mkdir()
    env = {**FAST_RESCUE, "COREHUB_SCHEDULER__REDELIVERY_SECONDS": "2"}
    hub = split_hub(tmp_path / "hub", db_url, redis.url, workers=0, env=env)
    hub.start()
    try:
        with hub.client() as client:
            ids = [client.run("echo_bot.echo", {"text": str(i)}).task_id for i in range(10)]
        redis.kill()  # the ten messages die with it
        redis.restart()
        hub.add("worker0", "worker", "--concurrency", "2", "--loglevel", "WARNING").start()
        views = hub.wait_all(ids, timeout=90)
        with hub.client() as client:
            starts = [sum(e.type == "started" for e in client.events(i)) for i in ids]
    finally:
        hub.stop()
        redis.stop()
    assert ([v.status for v in views], starts) == (["success"] * 10, [1] * 10)


def test_database_outage_answers_503_and_loses_nothing_accepted(
    tmp_path: Path, redis_server: RedisServer, servers_root: Path
) -> None:
    postgres = PostgresServer(servers_root / f"pg-{uuid.uuid4().hex[:6]}", durable=True)
    postgres.start()
    db_url = postgres.create_database("outage")
    (tmp_path / "hub").mkdir()
    hub = split_hub(tmp_path / "hub", db_url, redis_server.url_for_db(14), env=FAST_RESCUE)
    hub.start()
    try:
        with hub.client() as client:
            before = [client.run("core.sleep", {"seconds": 0.2}).task_id for _ in range(5)]
        postgres.crash()
        during = httpx.post(
            f"{hub.url}/tasks/run", timeout=30, json={"task_name": "echo_bot.echo", "kwargs": {}}
        )
        postgres.restart()
        views = hub.wait_all(before, timeout=90)
    finally:
        hub.stop()
        postgres.stop()
    assert (during.status_code, [v.status for v in views]) == (503, ["success"] * 5)
