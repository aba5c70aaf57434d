"""Flow control in SQL: the leader admits gated tasks; workers report to circuit breakers.

A gated task (one with a rate limit, a concurrency limit or breakers it needs) is accepted as
`scheduled` and waits in SQL. Each tick that finds one due, the scheduler's leader looks at
the due ones in one fenced transaction and either admits a task (→ queued, for the caller to
publish at once) or moves its `run_at` to when it may go: the next token of its bucket, the
reset time of an open breaker, or a short recheck while its concurrency key is full. No
worker sleeps or retries to wait for a limit. Every time here is the database's clock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Connection, bindparam, func, literal, select, update

from corehub.resilience import breaker as cb
from corehub.resilience.breaker import Breaker, BreakerPolicy, BreakerState
from corehub.resilience.ratelimit import Bucket, Rate, full, next_token_at, take
from corehub.store.database import Database
from corehub.store.events import append_events, event_row
from corehub.store.leadership import Fence, fenced_by
from corehub.store.models import TASK_COLUMNS, WAITING_ROWS
from corehub.store.models import breakers_table as cbt
from corehub.store.models import rate_buckets_table as rb
from corehub.store.models import tasks_table as t
from corehub.store.records import TaskRecord
from corehub.store.sql import insert_if_absent
from corehub.store.states import ErrorClass, TaskStatus

S = TaskStatus
WAITING = (S.SCHEDULED, S.RETRYING)  # where a gated task waits for admission
HOLDING = (S.QUEUED, S.STARTED)  # what counts against a concurrency limit
BREAKER_FIELDS = [f.name for f in fields(Breaker)]


@dataclass(frozen=True, slots=True)
class TaskLimits:
    rate: Rate | None = None
    concurrency: int | None = None


class FlowRules(Protocol):
    """The limits in force, by task name and breaker name (from code and settings)."""

    @property
    def recheck(self) -> timedelta: ...
    def limits(self, task_name: str) -> TaskLimits: ...
    def breaker(self, name: str) -> BreakerPolicy: ...


@dataclass(frozen=True, slots=True)
class Hold:
    """A task left waiting until `until`; `reason` None is a quiet recheck (no event)."""

    task: TaskRecord
    until: datetime
    reason: ErrorClass | None = None
    message: str = ""


@dataclass
class _Pass:
    """One admission pass over a batch, in memory; written back in the same transaction."""

    now: datetime
    rules: FlowRules
    breakers: dict[str, Breaker]
    buckets: dict[str, Bucket]
    running: Counter[str]
    admitted: list[TaskRecord] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)
    in_line: Counter[str] = field(default_factory=Counter)  # waiters per bucket this pass
    changed_buckets: set[str] = field(default_factory=set)
    changed_breakers: set[str] = field(default_factory=set)

    def consider(self, task: TaskRecord) -> None:
        limits = self.rules.limits(task.name)
        probes, hold = self._breakers(task)
        if hold is not None:
            self.holds.append(hold)
            return
        key = task.concurrency_key or task.name
        if limits.concurrency is not None and self.running[key] >= limits.concurrency:
            self.holds.append(Hold(task, self.now + self.rules.recheck))
            return
        if limits.rate is not None and not self._take_token(task, limits.rate):
            return
        for name in probes:
            policy = self.rules.breaker(name)
            self.breakers[name] = cb.start_probe(self.breakers[name], policy, self.now, task.id)
            self.changed_breakers.add(name)
        self.running[key] += 1
        self.admitted.append(task)

    def _breakers(self, task: TaskRecord) -> tuple[list[str], Hold | None]:
        """The breakers this task would probe, or why it must wait."""
        probes: list[str] = []
        for name in task.needs or []:
            b = self.breakers.get(name, Breaker(name))
            v = cb.verdict(b, self.now, self.rules.recheck)
            if v.wait_until is not None:
                reason = ErrorClass.BREAKER_OPEN if b.state is BreakerState.OPEN else None
                return [], Hold(task, v.wait_until, reason, f"circuit breaker {name} is {b.state}")
            if v.probe:
                probes.append(name)
        return probes, None

    def _take_token(self, task: TaskRecord, rate: Rate) -> bool:
        key = task.rate_key or task.name
        bucket = self.buckets.get(key) or full(rate, self.now)
        bucket, taken = take(bucket, rate, self.now)
        self.buckets[key] = bucket
        self.changed_buckets.add(key)
        if not taken:
            until = next_token_at(bucket, rate, self.now, behind=self.in_line[key])
            self.in_line[key] += 1
            message = f"rate limit {rate} of {key}: waiting for a token"
            self.holds.append(Hold(task, until, ErrorClass.RATE_LIMITED, message))
        return taken


class FlowStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- admission (the leader) -------------------------------------------------------------

    def admit(self, rules: FlowRules, *, fence: Fence | None, limit: int = 500) -> list[TaskRecord]:
        """Admit what the limits allow among the due gated tasks, oldest first and round-robin
        across concurrency keys; the rest wait. Returns the admitted (queued, unpublished)
        tasks for the caller to publish. Nothing changes unless `fence` is the live lease."""
        with self.db.write() as conn:
            if not self._leading(conn, fence):
                return []
            now = self._now(conn)
            due = self._due(conn, now, limit)
            if not due:
                return []
            tick = _Pass(
                now,
                rules,
                self._lock_breakers(conn, {n for task in due for n in task.needs or []}),
                self._buckets(conn, {task.rate_key or task.name for task in due}),
                self._running({task.concurrency_key or task.name for task in due}, conn),
            )
            for task in fair_order(due):
                tick.consider(task)
            admitted = self._write_admitted(conn, tick, fence)
            self._write_holds(conn, tick, fence)
            self._write_buckets(conn, tick)
            self._write_breakers(conn, [tick.breakers[n] for n in sorted(tick.changed_breakers)])
        return admitted

    def _leading(self, conn: Connection, fence: Fence | None) -> bool:
        return conn.execute(select(literal(1)).where(fenced_by(self.db, fence))).first() is not None

    def _now(self, conn: Connection) -> datetime:
        """The database's clock as a value, for arithmetic this side of SQL."""
        if self.db.is_sqlite:
            return datetime.now(UTC)
        now: datetime = conn.execute(select(func.statement_timestamp())).scalar_one()
        return now

    def _due(self, conn: Connection, now: datetime, limit: int) -> list[TaskRecord]:
        stmt = (
            select(*TASK_COLUMNS)
            .where(WAITING_ROWS, t.c.gated.is_(True), t.c.run_at <= now)
            .order_by(t.c.run_at, t.c.created_at, t.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)  # PostgreSQL: a racing cancel waits for us
        )
        return [TaskRecord.from_row(r) for r in conn.execute(stmt)]

    def _write_admitted(
        self, conn: Connection, tick: _Pass, fence: Fence | None
    ) -> list[TaskRecord]:
        now, admitted = tick.now, []
        for status in WAITING:
            ids = [task.id for task in tick.admitted if task.status is status]
            if not ids:
                continue
            rows = conn.execute(
                update(t)
                .where(t.c.id.in_(ids), t.c.status == status, fenced_by(self.db, fence))
                .values(status=S.QUEUED, run_at=None, published_at=None, updated_at=now)
                .returning(*TASK_COLUMNS)
            ).all()
            admitted += [TaskRecord.from_row(r) for r in rows]
            events = [
                event_row(r.id, "queued", status, S.QUEUED, r.attempt, "admitted") for r in rows
            ]
            append_events(conn, now, events)
        order = {task.id: n for n, task in enumerate(tick.admitted)}
        return sorted(admitted, key=lambda r: order[r.id])

    def _write_holds(self, conn: Connection, tick: _Pass, fence: Fence | None) -> None:
        if not tick.holds:
            return
        params = [
            {"b_id": h.task.id, "b_status": h.task.status, "b_until": h.until} for h in tick.holds
        ]
        conn.execute(
            update(t)
            .where(
                t.c.id == bindparam("b_id"),
                t.c.status == bindparam("b_status"),
                fenced_by(self.db, fence),
            )
            .values(run_at=bindparam("b_until", type_=t.c.run_at.type), updated_at=tick.now),
            params,
        )
        events = [_hold_event(h) for h in tick.holds if h.reason is not None]
        append_events(conn, tick.now, events)

    # -- rate buckets -----------------------------------------------------------------------

    def _buckets(self, conn: Connection, keys: set[str]) -> dict[str, Bucket]:
        rows = conn.execute(select(rb).where(rb.c.key.in_(sorted(keys))))
        return {r.key: Bucket(r.tokens, r.updated_at) for r in rows}

    def _write_buckets(self, conn: Connection, tick: _Pass) -> None:
        for key in sorted(tick.changed_buckets):
            b = tick.buckets[key]
            row = {"key": key, "tokens": b.tokens, "updated_at": b.updated_at}
            conn.execute(insert_if_absent(self.db.dialect, rb, row, "key"))
            conn.execute(
                update(rb).where(rb.c.key == key).values(tokens=b.tokens, updated_at=b.updated_at)
            )

    def buckets(self) -> dict[str, Bucket]:
        """Every bucket as last written (refill it to now before reading its tokens)."""
        with self.db.read() as conn:
            return {r.key: Bucket(r.tokens, r.updated_at) for r in conn.execute(select(rb))}

    # -- concurrency ------------------------------------------------------------------------

    def _running(self, keys: Iterable[str] | None, conn: Connection) -> Counter[str]:
        stmt = (
            select(t.c.concurrency_key, func.count())
            .where(t.c.status.in_(HOLDING), t.c.concurrency_key.is_not(None))
            .group_by(t.c.concurrency_key)
        )
        if keys is not None:
            stmt = stmt.where(t.c.concurrency_key.in_(sorted(keys)))
        return Counter({key: int(n) for key, n in conn.execute(stmt)})

    def running(self) -> Counter[str]:
        """Queued or started tasks per concurrency key: what counts against its limit."""
        with self.db.read() as conn:
            return self._running(None, conn)

    # -- circuit breakers -------------------------------------------------------------------

    def _lock_breakers(self, conn: Connection, names: Iterable[str]) -> dict[str, Breaker]:
        """Load (creating closed ones where missing) and, on PostgreSQL, lock in name order,
        so a worker reporting an outcome at the same moment waits instead of being lost."""
        wanted = sorted(set(names))
        if not wanted:
            return {}
        now = self._now(conn)
        for name in wanted:
            row = {"name": name, "state": BreakerState.CLOSED.value, "updated_at": now}
            conn.execute(insert_if_absent(self.db.dialect, cbt, row, "name"))
        stmt = select(cbt).where(cbt.c.name.in_(wanted)).order_by(cbt.c.name).with_for_update()
        return {r.name: _breaker(r) for r in conn.execute(stmt)}

    def _write_breakers(self, conn: Connection, breakers: Sequence[Breaker]) -> None:
        now = self._now(conn)
        for b in breakers:
            values = {f: getattr(b, f) for f in BREAKER_FIELDS if f != "name"}
            values["state"] = b.state.value
            conn.execute(update(cbt).where(cbt.c.name == b.name).values(**values, updated_at=now))

    def record_outcome(
        self, names: Sequence[str], policy: Callable[[str], BreakerPolicy], *, success: bool
    ) -> list[Breaker]:
        """A task that needs these breakers finished: count it, and move each breaker (a
        failure may open it; a success while half-open closes it). Returns them after."""
        with self.db.write() as conn:
            now = self._now(conn)
            breakers = self._lock_breakers(conn, names)
            after = [
                cb.record_success(b, now) if success else cb.record_failure(b, policy(n), now)
                for n, b in sorted(breakers.items())
            ]
            self._write_breakers(conn, after)
        return after

    def breakers(self) -> list[Breaker]:
        with self.db.read() as conn:
            return [_breaker(r) for r in conn.execute(select(cbt).order_by(cbt.c.name))]

    def reset_breaker(self, name: str) -> Breaker | None:
        """Close a breaker by hand (totals stay); None if no task ever needed it."""
        with self.db.write() as conn:
            row = conn.execute(select(cbt).where(cbt.c.name == name).with_for_update()).first()
            if row is None:
                return None
            closed = cb.reset(_breaker(row))
            self._write_breakers(conn, [closed])
        return closed

    def clock(self) -> datetime:
        """The database's clock now (what the API reports times against)."""
        with self.db.read() as conn:
            return self._now(conn)


def fair_order(tasks: Sequence[TaskRecord]) -> list[TaskRecord]:
    """Round-robin across concurrency keys, oldest first within each: a key with a deep
    backlog cannot starve the others within a pass."""
    seen: Counter[str] = Counter()
    ranked: list[tuple[int, int, TaskRecord]] = []
    for pos, task in enumerate(tasks):  # already oldest first
        key = task.concurrency_key or task.id
        ranked.append((seen[key], pos, task))
        seen[key] += 1
    return [task for _, _, task in sorted(ranked, key=lambda r: (r[0], r[1]))]


def _breaker(row: Any) -> Breaker:
    values = {f: getattr(row, f) for f in BREAKER_FIELDS}
    return replace(Breaker(**values), state=BreakerState(row.state))


def _hold_event(h: Hold) -> dict[str, Any]:
    assert h.reason is not None
    type_ = "rate_limited" if h.reason is ErrorClass.RATE_LIMITED else "waiting"
    data = {"error_class": h.reason.value, "until": h.until.isoformat()}
    return event_row(h.task.id, type_, None, None, h.task.attempt, h.message, data)
