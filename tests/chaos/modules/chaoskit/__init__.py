"""Chaoskit: tasks whose every execution and effect leave a trace a checker can read.

Executions are appended to a raw log (duplicates are expected: delivery is at least once);
effects are inserted into a table with a unique key (a duplicate effect is absorbed, and
counted). Both live in one SQLite file per scenario, outside the hub's own record.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from corehub.tasks import TransientError, current_task

__version__ = "1.0.0"

SCHEMA = """
CREATE TABLE IF NOT EXISTS executions (task_id TEXT, attempt INTEGER, pid INTEGER, at REAL);
CREATE TABLE IF NOT EXISTS effects (key TEXT PRIMARY KEY, task_id TEXT, at REAL);
CREATE TABLE IF NOT EXISTS absorbed (key TEXT, task_id TEXT, at REAL);
"""


@contextmanager
def connect(path: str) -> Iterator[sqlite3.Connection]:
    """The ledger. A busy ledger is a transient failure of this task's own dependency (the
    task is retried), never a reason to fail it: switching the journal mode in particular
    can answer "locked" at once under concurrent writers, so it happens only once."""
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(SCHEMA)
        yield conn
    except sqlite3.OperationalError as exc:
        raise TransientError(f"ledger busy: {exc}") from exc
    finally:
        conn.close()


def _executed(conn: sqlite3.Connection) -> str:
    task = current_task()
    conn.execute(
        "INSERT INTO executions VALUES (?, ?, ?, ?)",
        (task.task_id, task.attempt, os.getpid(), time.time()),
    )
    return task.task_id


def effect(ledger: str, key: str, seconds: float = 0.0) -> str:
    """Run for `seconds`, then perform the effect `key` once."""
    with connect(ledger) as conn:
        task_id = _executed(conn)
    time.sleep(seconds)
    with connect(ledger) as conn:
        done = conn.execute(
            "INSERT OR IGNORE INTO effects VALUES (?, ?, ?)", (key, task_id, time.time())
        ).rowcount
        if not done:
            conn.execute("INSERT INTO absorbed VALUES (?, ?, ?)", (key, task_id, time.time()))
    return key


def poison(ledger: str) -> None:
    """Kill the worker process running it, every time."""
    with connect(ledger) as conn:
        _executed(conn)
    os.kill(os.getpid(), signal.SIGKILL)


def register_tasks(registry: Any) -> None:
    registry.register_task("chaoskit", "effect", effect)
    registry.register_task("chaoskit", "poison", poison)
