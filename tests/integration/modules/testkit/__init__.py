"""Testkit: tasks that misbehave on purpose, loaded from a configured module path."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from corehub.tasks import Retry, TransientError, current_task, once

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


def flaky(path: str, failures: int, error: str = "ConnectionError", after: float = 0.2) -> int:
    """Fail `failures` times (counted in the file at `path`), then return the attempt count;
    with `error="Retry"` each retry is due `after` seconds later."""
    counter = Path(path)
    seen = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(seen))
    if seen <= failures:
        if error == "Retry":
            raise Retry(after=after, reason=f"not yet ({seen})")
        raise {"ConnectionError": ConnectionError, "ValueError": ValueError}[error](f"try {seen}")
    return seen


def charge(path: str) -> int:
    """Append one line to `path` once per task, however often the attempt after it fails."""
    ledger = Path(path)
    with once("charge") as first:
        if first:
            with ledger.open("a") as f:
                f.write(f"{current_task().task_id}\n")
    if current_task().attempt < 3:
        raise TransientError("the call after the effect failed")
    return len(ledger.read_text().splitlines())


def nap(seconds: float) -> float:
    """Sleep through anything; only a hard time limit ends it early."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            time.sleep(0.05)
        except Exception:
            continue
    return seconds


def sleepy(seconds: float) -> None:
    """Sleep; a soft time limit interrupts it."""
    time.sleep(seconds)


def register_tasks(registry: Any) -> None:
    register_flow_tasks(registry)
    registry.register_task("testkit", "returns_set", returns_set)
    registry.register_task("testkit", "returns_big", returns_big)
    registry.register_task("testkit", "add", add)
    registry.register_task("testkit", "suicide", suicide)
    registry.register_task("testkit", "hard_limited", nap, time_limit=1.0, max_attempts=2)
    registry.register_task(
        "testkit",
        "soft_limited",
        sleepy,
        soft_time_limit=0.5,
        max_attempts=2,
        backoff_base=0.1,
        backoff_cap=0.2,
    )
    registry.register_task("testkit", "charge", charge, backoff_base=0.1, backoff_cap=0.2)
    registry.register_task(
        "testkit", "flaky", flaky, retry_on=(ConnectionError,), backoff_base=0.2, backoff_cap=0.5
    )
    registry.register_task("testkit", "collect", collect)
    registry.register_task("testkit", "fail_first", fail_first)


def suicide() -> None:
    """Kill the process running it, every time: a poison task."""
    os.kill(os.getpid(), signal.SIGKILL)


def collect(**parents: Any) -> dict[str, Any]:
    """Return what it was given: a pipeline step's parents' results, by name."""
    return parents


def fail_first(path: str, **parents: Any) -> dict[str, Any]:
    """Fail (permanently) the first time, for `path`; succeed on any later run."""
    marker = Path(path)
    if not marker.exists():
        marker.write_text("failed once")
        raise ValueError("failing the first run on purpose")
    return parents


# -- flow control (tests/integration/test_flow.py) ---------------------------------------------


def flow_block(path: str) -> None:
    """Hold a worker slot until the file at `path` exists (at most 60 s)."""
    deadline = time.monotonic() + 60
    while not Path(path).exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def flow_tick(n: int = 0) -> int:
    """Do nothing; rate-limited by the hub's settings."""
    return n


def flow_hold(key: str, seconds: float) -> str:
    """Occupy a slot for `seconds`; at most two per key run at once."""
    time.sleep(seconds)
    return key


def flow_dependency(down: str) -> str:
    """Fail like an unreachable dependency while the file at `down` exists."""
    if Path(down).exists():
        raise ConnectionError("the dependency is down")
    return "up"


def register_flow_tasks(registry: Any) -> None:
    registry.register_task("testkit", "flow_block", flow_block)
    registry.register_task("testkit", "flow_tick", flow_tick)
    registry.register_task("testkit", "flow_hold", flow_hold, concurrency=2, concurrency_key="key")
    registry.register_task(
        "testkit",
        "flow_dependency",
        flow_dependency,
        needs=("testdep",),
        max_attempts=1,
        retry_on=(ConnectionError,),
    )
