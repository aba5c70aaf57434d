"""Core: health checks and small tasks (sleep, fail, noop, collect) for trying the hub."""

from __future__ import annotations

import os
import platform
import time
from typing import Any

__version__ = "1.0.0"


def health_check() -> dict[str, Any]:
    """Report that a worker runs tasks, and where."""
    return {"status": "ok", "host": platform.node(), "pid": os.getpid()}


def sleep(seconds: float = 1.0) -> dict[str, float]:
    """Sleep for `seconds`, then return how long it slept."""
    start = time.monotonic()
    time.sleep(seconds)
    return {"slept": round(time.monotonic() - start, 3)}


def fail(message: str = "failed on purpose") -> None:
    """Raise RuntimeError(message): a task that always fails."""
    raise RuntimeError(message)


def noop() -> None:
    """Do nothing: the cheapest task, for measuring the hub itself."""


def collect(**values: Any) -> dict[str, Any]:
    """Return the keyword arguments it was given: a pipeline step that joins its parents."""
    return values


def register_tasks(registry: Any) -> None:
    registry.register_task("core", "health_check", health_check)
    registry.register_task("core", "sleep", sleep)
    registry.register_task("core", "fail", fail)
    registry.register_task("core", "noop", noop)
    registry.register_task("core", "collect", collect)


def heartbeat() -> dict[str, Any]:
    return {"status": "ok"}
