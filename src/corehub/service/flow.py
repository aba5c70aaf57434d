"""Flow control as the hub applies it: which limits a task has, and how they stand now.

Limits come from the task's declaration in code (`rate_limit`, `concurrency`, `needs`) and
from `Settings.flow`, which wins by task name. A task with any limit is *gated*: accepted as
`scheduled` and admitted by the scheduler's leader (corehub.store.flow) when its limits allow.
Messages sent by plain Celery clients have no row at publish time and bypass gating.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from corehub.config import Settings
from corehub.errors import InvalidInput, NotFound
from corehub.registry import Registry, TaskSpec
from corehub.registry.specs import KeySource
from corehub.resilience import breaker as cb
from corehub.resilience.breaker import Breaker, BreakerPolicy
from corehub.resilience.ratelimit import parse_rate, refill
from corehub.schemas import (
    BreakerView,
    BucketView,
    ConcurrencyLimitView,
    FlowLimits,
    RateLimitView,
)
from corehub.store import Database
from corehub.store.flow import FlowStore, TaskLimits

KEY_LENGTH = 300  # tasks.rate_key / concurrency_key


class FlowPolicy:
    """The limits in force, for the submit (keys, gating), the leader and the workers."""

    def __init__(self, settings: Settings, registry: Registry) -> None:
        self.settings = settings
        self.registry = registry

    @property
    def recheck(self) -> timedelta:
        return timedelta(seconds=self.settings.flow.recheck_seconds)

    def limits(self, task_name: str) -> TaskLimits:
        spec = self.registry.find(task_name)
        rate = self.settings.flow.rate_limits.get(task_name) or (
            spec.options.rate_limit if spec else None
        )
        concurrency = self.settings.flow.concurrency.get(task_name) or (
            spec.options.concurrency if spec else None
        )
        return TaskLimits(parse_rate(rate) if rate else None, concurrency)

    def needs(self, spec: TaskSpec) -> list[str]:
        configured = self.settings.flow.needs.get(spec.name, [])
        return sorted({*spec.options.needs, *configured})

    def breaker(self, name: str) -> BreakerPolicy:
        cfg = self.settings.flow.breakers.get(name, self.settings.flow.breaker_defaults)
        return BreakerPolicy(cfg.failure_threshold, cfg.window_seconds, cfg.reset_seconds)

    def gate(self, spec: TaskSpec, args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The flow fields of a new task (NewTask keywords): its keys, needs and whether the
        leader must admit it. Raises InvalidInput when a key cannot be computed."""
        limits, needs = self.limits(spec.name), self.needs(spec)
        o = spec.options
        rate_key = _key(spec, o.rate_key, args, kwargs) if limits.rate else None
        concurrency_key = (
            _key(spec, o.concurrency_key, args, kwargs) if limits.concurrency else None
        )
        return {
            "rate_key": rate_key,
            "concurrency_key": concurrency_key,
            "needs": needs or None,
            "gated": bool(rate_key or concurrency_key or needs),
        }


def release_gate(policy: FlowPolicy) -> Callable[[str, dict[str, Any]], dict[str, Any]]:
    """Flow fields for a pipeline step released with its parents' results. It runs inside
    the parent's finish, so a key that cannot be computed falls back to the task's name
    (a per-task limit) instead of failing that finish."""

    def gate(task_name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        spec = policy.registry.find(task_name)
        if spec is None:
            return {}
        try:
            return policy.gate(spec, [], kwargs)
        except InvalidInput:
            limits, needs = policy.limits(spec.name), policy.needs(spec)
            return {
                "rate_key": spec.name if limits.rate else None,
                "concurrency_key": spec.name if limits.concurrency else None,
                "needs": needs or None,
                "gated": bool(limits.rate or limits.concurrency or needs),
            }

    return gate


def _key(spec: TaskSpec, source: KeySource | None, args: list[Any], kwargs: dict[str, Any]) -> str:
    """`task` alone, or `task:value` where value is a named argument or a function's result."""
    if source is None:
        return spec.name
    try:
        if callable(source):
            value = source(dict(kwargs))
        else:
            bound = spec.signature.bind(*args, **kwargs)
            bound.apply_defaults()
            value = bound.arguments[source]
    except Exception as exc:
        raise InvalidInput(f"cannot compute the flow key of {spec.name}: {exc!r}") from None
    key = f"{spec.name}:{value}"
    if len(key) > KEY_LENGTH:  # long values keep their identity as a digest
        key = f"{spec.name}:#{hashlib.sha256(str(value).encode()).hexdigest()}"
    return key


class FlowService:
    """What the API and CLI show and do: breaker states, bucket levels, running counts."""

    def __init__(self, db: Database, policy: FlowPolicy) -> None:
        self.store = FlowStore(db)
        self.policy = policy

    def breakers(self) -> list[BreakerView]:
        now = self.store.clock()
        return [self._breaker_view(b, now) for b in self.store.breakers()]

    def reset_breaker(self, name: str) -> BreakerView:
        closed = self.store.reset_breaker(name)
        if closed is None:
            raise NotFound(f"no circuit breaker named {name!r}")
        return self._breaker_view(closed, self.store.clock())

    def _breaker_view(self, b: Breaker, now: datetime) -> BreakerView:
        policy = self.policy.breaker(b.name)
        window = timedelta(seconds=policy.window_seconds)
        current = b.window_started_at is not None and now - b.window_started_at < window
        return BreakerView(
            name=b.name,
            state=b.state.value,
            failures_in_window=b.failures if current else 0,
            failure_threshold=policy.failure_threshold,
            window_seconds=policy.window_seconds,
            reset_seconds=policy.reset_seconds,
            total_failures=b.total_failures,
            total_successes=b.total_successes,
            times_opened=b.times_opened,
            opened_at=b.opened_at,
            open_until=b.open_until if b.state is not cb.BreakerState.CLOSED else None,
            probe_task_id=b.probe_task_id,
        )

    def limits(self) -> FlowLimits:
        names = sorted(
            {s.name for s in self.policy.registry.tasks()}
            | set(self.policy.settings.flow.rate_limits)
            | set(self.policy.settings.flow.concurrency)
        )
        limits = {name: self.policy.limits(name) for name in names}
        now = self.store.clock()
        buckets = self.store.buckets()
        running = self.store.running()
        rates = [
            RateLimitView(
                task_name=name,
                rate=str(lim.rate),
                buckets=[
                    BucketView(key=k, tokens=round(refill(b, lim.rate, now).tokens, 3))
                    for k, b in sorted(buckets.items())
                    if _of(k, name)
                ],
            )
            for name, lim in limits.items()
            if lim.rate is not None
        ]
        concurrency = [
            ConcurrencyLimitView(
                task_name=name,
                limit=lim.concurrency,
                running={k: n for k, n in sorted(running.items()) if _of(k, name)},
            )
            for name, lim in limits.items()
            if lim.concurrency is not None
        ]
        return FlowLimits(rate_limits=rates, concurrency=concurrency)


def _of(key: str, task_name: str) -> bool:
    return key == task_name or key.startswith(task_name + ":")
