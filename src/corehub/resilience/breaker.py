"""The circuit breaker as a state machine over plain values: no clock, no SQL.

closed --N failures within one window--> open --reset time passes, one probe admitted-->
half_open --probe succeeds--> closed, or --it fails--> open again with a new reset time.

The window is fixed (it starts at its first failure), which keeps the shared state to one row
and a counter. While open, tasks that need the dependency wait instead of failing against it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    failure_threshold: int = 5
    window_seconds: float = 60.0
    reset_seconds: float = 30.0


@dataclass(frozen=True, slots=True)
class Breaker:
    name: str
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0  # within the current window
    window_started_at: datetime | None = None
    opened_at: datetime | None = None
    # open: when a probe may go; half_open: when a probe that never reported is replaced
    open_until: datetime | None = None
    probe_task_id: str | None = None
    total_failures: int = 0
    total_successes: int = 0
    times_opened: int = 0


@dataclass(frozen=True, slots=True)
class Verdict:
    """What admission does with a task that needs this breaker: admit it, admit it as the
    half-open probe, or hold it until `wait_until`."""

    admit: bool
    probe: bool = False
    wait_until: datetime | None = None


def verdict(b: Breaker, now: datetime, recheck: timedelta) -> Verdict:
    """Open: wait for the reset time. Half-open: look again after `recheck`, since the probe
    may close the breaker any moment."""
    if b.state is BreakerState.CLOSED:
        return Verdict(admit=True)
    if b.open_until is None or now >= b.open_until:
        return Verdict(admit=True, probe=True)  # reset time passed, or the probe went silent
    if b.state is BreakerState.HALF_OPEN:
        return Verdict(admit=False, wait_until=min(b.open_until, now + recheck))
    return Verdict(admit=False, wait_until=b.open_until)


def start_probe(b: Breaker, policy: BreakerPolicy, now: datetime, task_id: str) -> Breaker:
    """open → half_open with one probe; a probe silent for `reset_seconds` is replaced."""
    return replace(
        b,
        state=BreakerState.HALF_OPEN,
        probe_task_id=task_id,
        open_until=now + timedelta(seconds=policy.reset_seconds),
    )


def record_success(b: Breaker, now: datetime) -> Breaker:
    """A success while half-open closes the breaker; while open (a late result from before it
    opened) it only counts."""
    b = replace(b, total_successes=b.total_successes + 1)
    if b.state is BreakerState.HALF_OPEN:
        return replace(
            b,
            state=BreakerState.CLOSED,
            failures=0,
            window_started_at=None,
            open_until=None,
            probe_task_id=None,
        )
    return b


def record_failure(b: Breaker, policy: BreakerPolicy, now: datetime) -> Breaker:
    b = replace(b, total_failures=b.total_failures + 1)
    if b.state is BreakerState.OPEN:
        return b  # a late failure of a task admitted before the breaker opened
    if b.state is BreakerState.HALF_OPEN:
        return _open(b, policy, now)
    window = timedelta(seconds=policy.window_seconds)
    if b.window_started_at is None or now - b.window_started_at >= window:
        b = replace(b, failures=0, window_started_at=now)
    b = replace(b, failures=b.failures + 1)
    return _open(b, policy, now) if b.failures >= policy.failure_threshold else b


def reset(b: Breaker) -> Breaker:
    """An operator closes the breaker by hand; totals stay."""
    return replace(
        b,
        state=BreakerState.CLOSED,
        failures=0,
        window_started_at=None,
        open_until=None,
        probe_task_id=None,
    )


def _open(b: Breaker, policy: BreakerPolicy, now: datetime) -> Breaker:
    return replace(
        b,
        state=BreakerState.OPEN,
        opened_at=now,
        open_until=now + timedelta(seconds=policy.reset_seconds),
        probe_task_id=None,
        times_opened=b.times_opened + 1,
    )
