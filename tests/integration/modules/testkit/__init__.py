"""Testkit: tasks that misbehave on purpose, loaded from a configured module path."""

from __future__ import annotations

import os
import signal
from typing import Any

__version__ = "0.0.1"


def returns_set() -> Any:
    """Return something that is not JSON."""
    return {1, 2, 3}


def returns_big(size: int) -> str:
    """Return a string of `size` characters."""
    return "x" * size


def add(a: int, b: int) -> int:
    """Add two numbers (positional arguments work too)."""
    return a + b


def register_tasks(registry: Any) -> None:
    registry.register_task("testkit", "returns_set", returns_set)
    registry.register_task("testkit", "returns_big", returns_big)
    registry.register_task("testkit", "add", add)
    registry.register_task("testkit", "suicide", suicide)


def suicide() -> None:
    """Kill the process running it, every time: a poison task."""
    os.kill(os.getpid(), signal.SIGKILL)
