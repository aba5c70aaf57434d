"""The chaos scenarios: each starts a hub, submits work, injects one fault, and is checked.

Every scenario returns a `Report`; `tests/chaos/test_scenarios.py` runs them small in CI and
`python -m tests.chaos.run` runs them at full scale and prints the table.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from celery import Celery

from corehub.schemas import RunTaskRequest
from tests.chaos.checker import Report, check
from tests.harness.servers import PostgresServer, RabbitMQServer, RedisServer
from tests.integration.hubs import MODULES, Hub, split_hub

CHAOS_MODULES = Path(__file__).parent / "modules"
FAST = {
    "COREHUB_WORKER__HEARTBEAT_SECONDS": "0.5",
    "COREHUB_SCHEDULER__HEARTBEAT_TIMEOUT_SECONDS": "2",
    "COREHUB_SCHEDULER__LEASE_TTL_SECONDS": "2",
    "COREHUB_SCHEDULER__TICK_SECONDS": "0.2",
    "COREHUB_SCHEDULER__REDELIVERY_SECONDS": "5",
    "COREHUB_MODULES__PATHS": f'["{MODULES}", "{CHAOS_MODULES}"]',
}


@dataclass
class ChaosEnv:
    """Servers for scenarios: shared ones, and fresh ones for scenarios that break them."""

    root: Path
    postgres: PostgresServer
    redis: RedisServer
    rabbitmq: Callable[[], RabbitMQServer]
    owned: list[RedisServer | RabbitMQServer | PostgresServer] = field(default_factory=list)

    def workdir(self, name: str) -> Path:
        path = self.root / f"{name}-{uuid.uuid4().hex[:6]}"
        path.mkdir(parents=True)
        path.chmod(0o755)
        return path

    def database(self) -> str:
        return self.postgres.create_database(f"chaos_{uuid.uuid4().hex[:10]}")

    def shared_redis(self) -> str:
        url = self.redis.url_for_db(13)
        import redis as redis_client

        redis_client.Redis.from_url(url).flushdb()
        return url

    def own(self, server: RedisServer | RabbitMQServer | PostgresServer) -> None:
        server.start()
        self.owned.append(server)

    def close(self) -> None:
        for server in self.owned:
            server.stop()
        self.owned.clear()


@dataclass
class Run:
    hub: Hub
    ledger: str
    expected: dict[str, str] = field(default_factory=dict)

    def submit(self, n: int, seconds: float = 0.0, prefix: str = "e") -> list[str]:
        with self.hub.client() as client:
            ids = client.run_many(
                [
                    RunTaskRequest(
                        task_name="chaoskit.effect",
                        kwargs={"ledger": self.ledger, "key": f"{prefix}{i}", "seconds": seconds},
                    )
                    for i in range(n)
                ]
            )
        self.expected.update(dict.fromkeys(ids, "success"))
        return ids

    def running_pid(self, timeout: float = 30) -> int:
        """The pid of a pool process running one of this run's tasks."""
        deadline = time.monotonic() + timeout
        with self.hub.client() as client:
            while time.monotonic() < deadline:
                page = client.list_tasks(status=["started"], limit=10)
                for view in page.items:
                    if view.worker:
                        return int(view.worker.rsplit(":", 1)[1])
                time.sleep(0.05)
        raise AssertionError(f"nothing started in {timeout}s\n{self.hub.logs()}")

    def check(self, name: str, fault_at: float, timeout: float = 120) -> Report:
        return check(name, self.hub, self.ledger, self.expected, fault_at, timeout)


@contextmanager
def hub_run(
    env: ChaosEnv,
    name: str,
    broker: str,
    *,
    database: str | None = None,
    workers: int = 2,
    schedulers: int = 1,
    extra: dict[str, str] | None = None,
) -> Iterator[Run]:
    workdir = env.workdir(name)
    hub = split_hub(
        workdir,
        database or env.database(),
        broker,
        workers=workers,
        schedulers=schedulers,
        env={**FAST, **(extra or {})},
    )
    hub.start()
    try:
        yield Run(hub, str(workdir / "ledger.db"))
    finally:
        hub.stop()


# -- scenarios: each takes (env, n) and returns a Report ------------------------------------


def pool_child_killed(
    broker_of: Callable[[ChaosEnv], str], broker: str
) -> Callable[[ChaosEnv, int], Report]:
    def scenario(env: ChaosEnv, n: int) -> Report:
        with hub_run(env, "child-kill", broker_of(env)) as run:
            run.submit(n, seconds=0.2)
            fault = time.monotonic()
            os.kill(run.running_pid(), signal.SIGKILL)
            return run.check(f"pool child SIGKILL ({broker})", fault)

    return scenario


def worker_killed_with_prefetched(env: ChaosEnv, n: int) -> Report:
    extra = {"COREHUB_WORKER__PREFETCH_MULTIPLIER": "4"}
    with hub_run(env, "worker-kill", env.shared_redis(), workers=1, extra=extra) as run:
        run.submit(n, seconds=0.1)
        run.running_pid()
        fault = time.monotonic()
        run.hub.process("worker0").kill()
        run.hub.process("worker0").start()
        return run.check("worker SIGKILL, prefetched", fault)


def zombie_worker(env: ChaosEnv, n: int) -> Report:
    with hub_run(env, "zombie", env.shared_redis()) as run:
        run.submit(n, seconds=0.2)
        zombie = run.running_pid()
        fault = time.monotonic()
        os.kill(zombie, signal.SIGSTOP)
        time.sleep(3.5)  # past the heartbeat timeout: its attempt is rescued
        os.kill(zombie, signal.SIGCONT)
        return run.check("SIGSTOP/SIGCONT zombie", fault)


def redis_killed(persistent: bool) -> Callable[[ChaosEnv, int], Report]:
    def scenario(env: ChaosEnv, n: int) -> Report:
        redis = RedisServer(env.workdir("redis"), persistent=persistent)
        env.own(redis)
        with hub_run(env, "redis-kill", redis.url) as run:
            run.submit(n, seconds=0.05)
            run.running_pid()
            fault = time.monotonic()
            redis.kill()
            time.sleep(1.0)
            redis.restart()
            label = "with" if persistent else "without"
            return run.check(f"Redis SIGKILL, {label} persistence", fault)

    return scenario


def rabbitmq_killed(env: ChaosEnv, n: int) -> Report:
    rabbit = RabbitMQServer(env.workdir("rabbit"))
    env.own(rabbit)
    with hub_run(env, "rabbit-kill", rabbit.url) as run:
        run.submit(n, seconds=0.05)
        run.running_pid()
        fault = time.monotonic()
        rabbit.kill()
        rabbit.restart()
        return run.check("RabbitMQ SIGKILL", fault, timeout=180)


def postgres_stopped(env: ChaosEnv, n: int) -> Report:
    postgres = PostgresServer(env.workdir("pg"), durable=True)
    env.own(postgres)
    with hub_run(
        env, "pg-stop", env.shared_redis(), database=postgres.create_database("chaos")
    ) as run:
        run.submit(n, seconds=0.05)
        run.running_pid()
        fault = time.monotonic()
        postgres.crash()
        time.sleep(1.0)
        postgres.restart()
        return run.check("PostgreSQL immediate stop", fault)


def api_killed_mid_submit(env: ChaosEnv, n: int) -> Report:
    with hub_run(env, "api-kill", env.shared_redis(), workers=1) as run:
        body = {
            "tasks": [
                {
                    "task_name": "chaoskit.effect",
                    "kwargs": {"ledger": run.ledger, "key": f"a{i}", "seconds": 0},
                }
                for i in range(n)
            ]
        }
        sender = threading.Thread(target=_post_quietly, args=(f"{run.hub.url}/tasks/bulk", body))
        sender.start()
        _wait_rows(run, minimum=1)
        fault = time.monotonic()
        run.hub.process("api").kill()  # between commit and the end of publishing
        sender.join(30)
        run.hub.process("api").start()
        run.hub.wait_ready()
        with run.hub.client() as client:  # accepted = whatever the record holds
            rows = client.list_tasks(task_name="chaoskit.effect", limit=1000).items
        run.expected.update({v.task_id: "success" for v in rows})
        return run.check("API SIGKILL between commit and publish", fault)


def duplicate_delivery(env: ChaosEnv, n: int) -> Report:
    broker = env.shared_redis()
    with hub_run(env, "duplicates", broker) as run:
        plain = Celery("plain", broker=broker)
        fault = time.monotonic()
        for i in range(n):
            task_id = str(uuid.uuid4())
            for _ in range(3):
                plain.send_task(
                    "chaoskit.effect",
                    task_id=task_id,
                    kwargs={"ledger": run.ledger, "key": f"d{i}", "seconds": 0.05},
                )
            run.expected[task_id] = "success"
        return run.check("duplicate delivery (x3)", fault)


def scheduler_leader_paused(env: ChaosEnv, n: int) -> Report:
    with hub_run(env, "leader-pause", env.shared_redis(), schedulers=2) as run:
        run.submit(n, seconds=0.2)
        leader = _leader_pid(run.hub)
        fault = time.monotonic()
        os.kill(leader, signal.SIGSTOP)
        try:
            os.kill(run.running_pid(), signal.SIGKILL)  # needs a rescue by the new leader
            time.sleep(4.0)  # past the lease TTL
        finally:
            os.kill(leader, signal.SIGCONT)
        return run.check("two schedulers, leader SIGSTOPped", fault)


def poison_task(env: ChaosEnv, n: int) -> Report:
    with hub_run(env, "poison", env.shared_redis()) as run:
        with run.hub.client() as client:
            poison = client.run("chaoskit.poison", {"ledger": run.ledger}).task_id
        run.expected[poison] = "dead"
        fault = time.monotonic()
        run.submit(n, seconds=0.02)
        return run.check("poison task", fault)


def longer_than_visibility_timeout(env: ChaosEnv, n: int) -> Report:
    extra = {"COREHUB_BROKER__VISIBILITY_TIMEOUT_SECONDS": "2"}
    with hub_run(env, "visibility", env.shared_redis(), extra=extra) as run:
        fault = time.monotonic()
        run.submit(max(2, n // 10), seconds=4.0)
        return run.check("task longer than Redis visibility timeout", fault)


def _post_quietly(url: str, body: object) -> None:
    # The API is killed under it: the record, not the reply, says what was accepted.
    with contextlib.suppress(httpx.HTTPError):
        httpx.post(url, json=body, timeout=30)


def _wait_rows(run: Run, minimum: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    with run.hub.client() as client:
        while time.monotonic() < deadline:
            try:
                if len(client.list_tasks(limit=minimum).items) >= minimum:
                    return
            except Exception:
                pass
            time.sleep(0.01)


def _leader_pid(hub: Hub, timeout: float = 15) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        leader = httpx.get(f"{hub.url}/health", timeout=10).json()["scheduler"]["leader"]
        if leader:
            return int(str(leader).split(":")[1])
        time.sleep(0.2)
    raise AssertionError("no scheduler leader")


def _redis(env: ChaosEnv) -> str:
    return env.shared_redis()


def _rabbit(env: ChaosEnv) -> str:
    return env.rabbitmq().add_vhost(f"chaos-{uuid.uuid4().hex[:8]}")


SCENARIOS: dict[str, Callable[[ChaosEnv, int], Report]] = {
    "child-kill-redis": pool_child_killed(_redis, "Redis"),
    "child-kill-rabbitmq": pool_child_killed(_rabbit, "RabbitMQ"),
    "worker-kill-prefetched": worker_killed_with_prefetched,
    "zombie": zombie_worker,
    "redis-kill-persistent": redis_killed(persistent=True),
    "redis-kill-volatile": redis_killed(persistent=False),
    "rabbitmq-kill": rabbitmq_killed,
    "postgres-stop": postgres_stopped,
    "api-kill": api_killed_mid_submit,
    "duplicate-delivery": duplicate_delivery,
    "leader-paused": scheduler_leader_paused,
    "poison": poison_task,
    "visibility-timeout": longer_than_visibility_timeout,
}
