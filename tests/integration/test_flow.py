"""Priorities and flow control on real servers: PostgreSQL with Redis and with RabbitMQ.

The rate-limit test measures over 8 s here; the full minute runs with
`COREHUB_RATE_TEST_SECONDS=60 .venv/bin/pytest tests/integration/test_flow.py -k rate_limit`.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from datetime import datetime

import pytest

from corehub.schemas import RunTaskRequest, TaskView
from tests.harness.servers import PostgresServer, RabbitMQServer, RedisServer
from tests.integration.hubs import Hub, split_hub

RATE = 10.0  # tasks per second for testkit.flow_tick
FLOW_ENV = {
    "COREHUB_FLOW__RATE_LIMITS": json.dumps({"testkit.flow_tick": f"{RATE:g}/s"}),
    "COREHUB_FLOW__BREAKERS": json.dumps(
        {"testdep": {"failure_threshold": 3, "window_seconds": 60, "reset_seconds": 5}}
    ),
    "COREHUB_BROKER__PRIORITY_QUEUES": "true",  # RabbitMQ: declare x-max-priority
}
# CI measures the rate over 8 s; the full run over a minute (see the module docstring).
RATE_TEST_SECONDS = int(os.environ.get("COREHUB_RATE_TEST_SECONDS", "8"))


@pytest.fixture(
    scope="module",
    params=[pytest.param(b, marks=pytest.mark.servers) for b in ("redis", "rabbitmq")],
)
def flow_hub(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_server: PostgresServer,
) -> Iterator[Hub]:
    """Two workers (2 slots each) on the default queue, one single-slot worker on `prio`."""
    if request.param == "redis":
        redis: RedisServer = request.getfixturevalue("redis_server")
        broker = redis.url_for_db(14)
        import redis as redis_client

        redis_client.Redis.from_url(broker).flushdb()
    else:
        rabbit: RabbitMQServer = request.getfixturevalue("rabbitmq_server")
        broker = rabbit.add_vhost(f"flow-{uuid.uuid4().hex[:8]}")
    db_url = postgres_server.create_database(f"flow_{uuid.uuid4().hex[:10]}")
    workdir = tmp_path_factory.mktemp(f"flow-{request.param}")
    hub = split_hub(workdir, db_url, broker, workers=0, env=FLOW_ENV)
    # Distinct node names: RabbitMQ gives each node's control queue to one connection only.
    for name, queue, slots in (("w0", "celery", 2), ("w1", "celery", 2), ("prio", "prio", 1)):
        hub.add(name, "worker", "-Q", queue, "-c", str(slots), "-P", "prefork", "-n", f"{name}@%h")
    hub.start()
    yield hub
    hub.stop()


def _started(views: list[TaskView]) -> list[datetime]:
    return sorted(v.started_at for v in views if v.started_at is not None)


def _wait_started(hub: Hub, task_id: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    with hub.client() as client:
        while client.get(task_id).status != "started":
            assert time.monotonic() < deadline, hub.logs()
            time.sleep(0.05)


def test_high_priority_tasks_overtake_a_low_backlog(flow_hub: Hub, tmp_path: object) -> None:
    """All but the one low task the `prio` worker already holds for its slot (its running
    task's message is acknowledged, so it takes one more: README, Priorities)."""
    hub = flow_hub
    gate = hub.workdir / f"gate-{uuid.uuid4().hex}"
    with hub.client() as client:
        blocker = client.run("testkit.flow_block", {"path": str(gate)}, queue="prio").task_id
        _wait_started(hub, blocker)  # the only slot on `prio` is busy
        lows = [
            client.run("testkit.add", {"a": i, "b": 0}, queue="prio", priority="low").task_id
            for i in range(20)
        ]
        highs = [
            client.run("testkit.add", {"a": i, "b": 1}, queue="prio", priority="high").task_id
            for i in range(5)
        ]
        time.sleep(0.5)  # every message reaches the broker while the slot is held
        gate.touch()
    views = {v.task_id: v for v in hub.wait_all([blocker, *lows, *highs], timeout=60)}
    last_high = max(_started([views[i] for i in highs]))
    early_lows = [i for i in lows if (views[i].started_at or last_high) < last_high]
    assert early_lows in ([], lows[:1]), (early_lows, lows[:1])


def _admission_rate(hub: Hub, task_ids: list[str]) -> float:
    """Tasks the leader admitted per second beyond the bucket's first burst (one second's
    worth), first admission to last. Admission is what the limit governs: start times
    also count the workers, which on a loaded machine read 12 and 15.5/s for 10/s (a
    worker still booting when the first tasks are admitted starts its backlog at once)."""
    with hub.client() as client:
        admitted = sorted(
            next(e.created_at for e in client.events(i) if e.type == "queued") for i in task_ids
        )
    return (len(admitted) - int(RATE)) / (admitted[-1] - admitted[0]).total_seconds()


def test_a_rate_limit_holds_across_two_workers(flow_hub: Hub) -> None:
    seconds = RATE_TEST_SECONDS
    hub = flow_hub
    count = int(RATE * seconds) + int(RATE)
    with hub.client() as client:
        ids = client.run_many(
            [RunTaskRequest(task_name="testkit.flow_tick", kwargs={"n": i}) for i in range(count)]
        )
    views = hub.wait_all(ids, timeout=seconds * 2 + 30)
    workers = {v.worker for v in views}  # host:pid of each worker process
    rate = _admission_rate(hub, ids)
    # The limit is a ceiling, held within 10%. Below it a bucket holds at most a second's
    # tokens, so a leader whose ticks stall for longer admits fewer: on the slowest machine
    # seen (the whole suite at 13.5 min on 2 cores) 8 s of admissions read 7.9/s. Stalled
    # ticks fit that reading; they were not observed. Half the rate is the floor that
    # still shows it admits.
    assert (RATE * 0.5 <= rate <= RATE * 1.1, len(workers) >= 2) == (True, True), (rate, workers)


def _max_overlap(views: list[TaskView]) -> int:
    edges = sorted(
        [(v.started_at, 1) for v in views if v.started_at]
        + [(v.completed_at, -1) for v in views if v.completed_at]
    )
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


def test_a_concurrency_limit_is_never_exceeded_per_key(flow_hub: Hub) -> None:
    hub = flow_hub
    keys = [f"repo-{uuid.uuid4().hex[:6]}" for _ in range(2)]
    with hub.client() as client:
        ids = client.run_many(
            [
                RunTaskRequest(task_name="testkit.flow_hold", kwargs={"key": k, "seconds": 0.4})
                for _ in range(6)
                for k in keys
            ]
        )
    views = hub.wait_all(ids, timeout=60)
    peaks = {k: _max_overlap([v for v in views if v.kwargs["key"] == k]) for k in keys}
    assert (set(peaks.values()), {v.status for v in views}) == ({2}, {"success"}), peaks


def _breaker(hub: Hub) -> dict[str, object]:
    with hub.client() as client:
        return next(b.model_dump() for b in client.breakers() if b.name == "testdep")


def test_breaker_opens_holds_tasks_in_sql_then_probes_and_closes(flow_hub: Hub) -> None:
    hub = flow_hub
    down = hub.workdir / "testdep-down"
    down.touch()
    with hub.client() as client:
        failing = [
            client.run("testkit.flow_dependency", {"down": str(down)}).task_id for _ in range(3)
        ]
        hub.wait_all(failing, timeout=30)
        opened = _breaker(hub)
        waiting = [
            client.run("testkit.flow_dependency", {"down": str(down)}).task_id for _ in range(2)
        ]
        time.sleep(0.8)
        held = [client.get(i).status for i in waiting]
        held_events = [e.type for e in client.events(waiting[0])]
        down.unlink()
    views = hub.wait_all(waiting, timeout=30)
    closed = _breaker(hub)
    assert (
        opened["state"],
        held,
        "waiting" in held_events,
        [v.status for v in views],
        closed["state"],
        closed["times_opened"],
    ) == (
        "open",
        ["scheduled", "scheduled"],
        True,
        ["success", "success"],
        "closed",
        opened["times_opened"],
    )
