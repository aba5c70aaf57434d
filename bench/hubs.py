"""Hubs to measure, started the way the tests start them (real servers on loopback), but
with the default settings a user runs."""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.integration.hubs import Hub, embedded_hub, split_hub

from corehub.client import Client
from corehub.schemas import TERMINAL_STATUSES
from corehub.store import TaskStatus

# Knobs tests.integration.hubs sets for tests; a benchmark runs with the defaults.
TEST_ONLY_ENV = (
    "COREHUB_SCHEDULER__RELAY_GRACE_SECONDS",
    "COREHUB_SCHEDULER__TICK_SECONDS",
    "COREHUB_MODULES__PATHS",
    "COREHUB_TASKS__MAX_RESULT_BYTES",
)
SPLIT_ENV = {
    "COREHUB_SCHEDULER__TICK_SECONDS": "0.5",
    "COREHUB_SCHEDULER__RELAY_GRACE_SECONDS": "2",
}


def _bench_env(hub: Hub, extra: dict[str, str] | None = None) -> None:
    """Defaults instead of the test harness's knobs (the processes share `hub.env`)."""
    for key in TEST_ONLY_ENV:
        hub.env.pop(key, None)
    hub.env["COREHUB_LOGGING__LEVEL"] = "WARNING"
    hub.env.update(extra or {})


@contextmanager
def started_hub(mode: str, keep: bool = False, api_workers: int = 1) -> Iterator[tuple[Hub, str]]:
    """A hub of `mode` in a temporary directory, with the URL of its database; in split mode
    its API served by `api_workers` processes."""
    from tests.harness.servers import PostgresServer, RedisServer, ensure_packages

    root = Path(tempfile.mkdtemp(prefix="corehub-bench-submit-"))
    root.chmod(0o755)
    servers: list[PostgresServer | RedisServer] = []
    try:
        if mode == "embedded":
            hub = embedded_hub(root / "hub")
            _bench_env(hub)
            db_url = f"sqlite:///{root / 'hub' / 'data' / 'corehub.db'}"
        elif mode == "postgres+redis":
            ensure_packages()
            postgres = PostgresServer(root / "pg", durable=True)
            servers.append(postgres)
            postgres.start()
            redis = RedisServer(root / "redis")
            servers.append(redis)
            redis.start()
            db_url = postgres.create_database(f"bench_{uuid.uuid4().hex[:8]}")
            hub = split_hub(root / "hub", db_url, redis.url_for_db(0), workers=1, concurrency=2)
            _bench_env(hub, SPLIT_ENV)
            hub.process("api").argv += ["--workers", str(api_workers)]
        else:
            raise ValueError(f"unknown mode {mode!r}")
        hub.workdir.mkdir(parents=True, exist_ok=True)
        hub.start()
        try:
            yield hub, db_url
        finally:
            hub.stop()
    finally:
        for server in reversed(servers):
            server.stop()
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


UNFINISHED = sorted(s.value for s in TaskStatus if s.value not in TERMINAL_STATUSES)


def drain(client: Client, timeout: float = 900.0) -> None:
    """Wait until the hub has no unfinished task left."""
    deadline = time.monotonic() + timeout
    while client.list_tasks(status=UNFINISHED, limit=1).items:
        if time.monotonic() > deadline:
            raise TimeoutError(f"tasks still unfinished after {timeout}s")
        time.sleep(0.25)
