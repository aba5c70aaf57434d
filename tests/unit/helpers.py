"""Small helpers the unit tests share (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import uvicorn
from sqlalchemy import update

from corehub.api import create_app
from corehub.config import Settings
from corehub.config.settings import BrokerSettings, DatabaseSettings
from corehub.engine import CorehubCelery, EngineContext, create_celery
from corehub.registry import Registry
from corehub.runtime import Runtime
from corehub.store import Database, TaskFilter, TaskStore
from corehub.store.migrate import upgrade
from corehub.store.models import tasks_table


def celery_app(broker: BrokerSettings, workdir: Path, **sections: Any) -> CorehubCelery:
    """corehub's Celery app on `broker`, with no tasks and a new SQLite file in `workdir` for
    its database; `sections` are further settings (`worker=WorkerSettings(...)`)."""
    database = DatabaseSettings(url=f"sqlite:///{workdir / f'hub-{uuid.uuid4().hex[:6]}.db'}")
    settings = Settings(broker=broker, database=database, **sections)
    return create_celery(
        EngineContext(settings, Registry(), TaskStore(Database(settings.database.url)))
    )


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def migrated_pg_database(
    postgres_server: Any, *, server_sql: str = "", **options: Any
) -> Iterator[Database]:
    """A new migrated PostgreSQL database (`options` for `Database`), dropped afterwards;
    `server_sql` runs first, `{name}` standing for the database's name."""
    name = f"t_{uuid.uuid4().hex[:8]}"
    url = postgres_server.create_database(name)
    if server_sql:
        admin = Database(url)
        with admin.autocommit() as conn:
            conn.exec_driver_sql(server_sql.format(name=name))
        admin.dispose()
    database = Database(url, **options)
    try:
        upgrade(database)
        yield database
    finally:
        database.dispose()
        postgres_server.drop_database(name)


def publish_long_ago(store: TaskStore, ids: list[str]) -> None:
    """Mark tasks published an hour ago (as if a broker had lost them since)."""
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    with store.db.write() as conn:
        conn.execute(
            update(tasks_table).where(tasks_table.c.id.in_(ids)).values(published_at=long_ago)
        )


def count_tasks(runtime: Runtime) -> int:
    """How many task rows the record holds."""
    return len(runtime.store.list_tasks(TaskFilter(), limit=10_000).items)


def clean_environ() -> dict[str, str]:
    """This process's environment without any COREHUB_* variable."""
    return {k: v for k, v in os.environ.items() if not k.startswith("COREHUB_")}


REPO = Path(__file__).resolve().parents[2]


def run_python(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """`python *args` in the repository, without this process's COREHUB_* settings; its
    output captured as text, its exit code left for the caller to check."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env=clean_environ(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll `predicate()` until it is true or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


@contextmanager
def serving(runtime: Runtime) -> Iterator[str]:
    """The runtime's API served by uvicorn on a loopback port, in a thread; yields its URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(runtime.services),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
        )
    )
    thread = threading.Thread(target=server.run, name="test-hub", daemon=True)
    thread.start()
    if not wait_for(lambda: server.started, timeout=10):
        raise RuntimeError("the test hub did not start within 10 s")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
