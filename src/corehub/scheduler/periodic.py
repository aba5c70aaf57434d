"""Periodic schedules: when each slot falls, which slots fire now, and the leader's duty.

Slots are instants in UTC. An interval schedule's slots are multiples of its period counted
from the Unix epoch, so a restart or a second scheduler computes the very same slots (no
drift). A cron schedule's slots are wall-clock times in its time zone: a time that a DST jump
skips fires at the shift (croniter's rule), a time that occurs twice fires once (its first
occurrence). Exactly-once firing is the store's job (unique schedule + slot); this module only
says which slots are due.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from croniter import croniter

from corehub.errors import CorehubError
from corehub.service.outbox import publish_committed
from corehub.service.tasks import SubmitRequest, TaskService
from corehub.store import NewTask, TaskRecord, new_task_id
from corehub.store.leadership import Fence
from corehub.store.schedules import ScheduleRecord, ScheduleStore

log = logging.getLogger("corehub.scheduler")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TICK = timedelta(microseconds=1)
Misfire = Literal["skip", "run_once"]
MAX_SLOTS_PER_TICK = 100  # a long `skip` backlog of short periods drains over a few ticks


@dataclass(frozen=True, slots=True)
class Timing:
    """Every `every` seconds, or at `cron` in `timezone`: exactly one of the two."""

    every: float | None = None
    cron: str | None = None
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if (self.every is None) == (self.cron is None):
            raise ValueError("a schedule needs exactly one of `every` and `cron`")
        if self.every is not None and self._period_us() <= 0:
            raise ValueError("`every` must be at least a microsecond")

    def _period_us(self) -> int:
        assert self.every is not None
        return round(self.every * 1_000_000)

    def next_after(self, moment: datetime) -> datetime:
        """The first slot strictly after `moment`."""
        if self.cron is None:
            period = self._period_us()
            count = _micros(moment) // period + 1
            return EPOCH + timedelta(microseconds=count * period)
        zone = ZoneInfo(self.timezone)
        slots = croniter(self.cron, moment.astimezone(zone))
        while True:
            slot: datetime = slots.get_next(datetime)
            if not _repeated(slot):
                return slot.astimezone(UTC)

    def last_at_or_before(self, moment: datetime) -> datetime:
        """The latest slot at or before `moment`."""
        if self.cron is None:
            period = self._period_us()
            return EPOCH + timedelta(microseconds=_micros(moment) // period * period)
        zone = ZoneInfo(self.timezone)
        slots = croniter(self.cron, (moment + TICK).astimezone(zone))
        while True:
            slot: datetime = slots.get_prev(datetime)
            if not _repeated(slot):
                return slot.astimezone(UTC)


def _micros(moment: datetime) -> int:
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _repeated(slot: datetime) -> bool:
    """The second occurrence of a wall-clock time that DST's fall-back shows twice."""
    return slot.fold == 1 and slot.replace(fold=0).utcoffset() != slot.utcoffset()


@dataclass(frozen=True, slots=True)
class Plan:
    """What a due schedule does now: fire `slots` (oldest first), then wait for `next_fire_at`.

    `missed` counts the due slots not fired (skipped as misfires, or folded into one run).
    """

    slots: list[datetime]
    next_fire_at: datetime
    missed: int = 0


def plan(
    timing: Timing,
    next_fire_at: datetime,
    now: datetime,
    *,
    misfire: Misfire,
    grace: timedelta,
    limit: int = MAX_SLOTS_PER_TICK,
) -> Plan:
    """The slots due at `now`, by the misfire policy.

    `skip` fires each due slot no later than `grace` and skips the older ones; `run_once` fires
    one task, for the latest due slot, in place of every slot missed.
    """
    if next_fire_at > now:
        return Plan([], next_fire_at)
    latest = timing.last_at_or_before(now)
    if misfire == "run_once":
        return Plan([latest], timing.next_after(now), missed=_count(timing, next_fire_at, latest))
    start = max(next_fire_at, now - grace)
    slots: list[datetime] = []
    slot = timing.next_after(start - TICK)
    while slot <= now and len(slots) < limit:
        slots.append(slot)
        slot = timing.next_after(slot)
    following = slot if slots and slot <= now else timing.next_after(now)
    skipped = _count(timing, next_fire_at, start) if start > next_fire_at else 0
    return Plan(slots, following, missed=skipped)


def _count(timing: Timing, first: datetime, last: datetime, cap: int = 1000) -> int:
    """How many slots lie in [first, last) (at most `cap`: for logs, not for logic)."""
    n, slot = 0, timing.next_after(first - TICK)
    while slot < last and n < cap:
        n, slot = n + 1, timing.next_after(slot)
    return n


def timing_of(record: ScheduleRecord) -> Timing:
    return Timing(record.every_seconds, record.cron, record.timezone)


class PeriodicDuty:
    """The leader's periodic firing: each due slot becomes one queued task, published at once.

    Tasks are shaped by the task service (the registry's queue, priority and attempts), so a
    fired task is the same as one submitted by hand.
    """

    name = "periodic"

    def __init__(self, schedules: ScheduleStore, tasks: TaskService, *, grace: timedelta) -> None:
        self.schedules = schedules
        self.tasks = tasks
        self.grace = grace

    def run(self, fence: Fence) -> None:
        self.fire_due(fence)

    def fire_due(self, fence: Fence | None, now: datetime | None = None) -> list[TaskRecord]:
        """Fire every due slot as the holder of `fence`; returns the tasks created."""
        db = self.schedules.db
        due = self.schedules.due(now or db.now())
        if not due:  # an idle tick: one read, not a second for the clock
            return []
        now = now or db.clock()
        fired: list[TaskRecord] = []
        for record in due:
            try:
                fired += self._fire(record, fence, now)
            except Exception as exc:  # one broken schedule must not stop the others
                log.warning("schedule %s failed: %s: %s", record.name, type(exc).__name__, exc)
        publish_committed(self.tasks.store, self.tasks.publisher, fired, fence)
        return fired

    def _fire(self, record: ScheduleRecord, fence: Fence | None, now: datetime) -> list[TaskRecord]:
        steps = plan(
            timing_of(record),
            record.next_fire_at,
            now,
            misfire="run_once" if record.misfire == "run_once" else "skip",
            grace=self.grace,
        )
        if steps.missed:
            log.warning(
                "schedule %s missed %d slot(s) before %s (%s)",
                record.name,
                steps.missed,
                now.isoformat(),
                record.misfire,
            )
        tasks = self._tasks(record, len(steps.slots))
        return self.schedules.fire(
            record,
            list(zip(steps.slots, tasks, strict=False)),
            next_fire_at=steps.next_fire_at,
            missed=steps.missed,
            fence=fence,
        )

    def _tasks(self, record: ScheduleRecord, count: int) -> Sequence[NewTask]:
        """One new task per slot; none (the slots pass unfired) if the task cannot be made."""
        if count == 0:
            return []
        try:
            task = self.tasks.prepare(
                SubmitRequest(
                    record.task_name,
                    record.kwargs,
                    args=record.args,
                    queue=record.queue,
                    priority=record.priority,
                )
            )
        except CorehubError as exc:
            log.warning("schedule %s cannot fire: %s", record.name, exc.detail)
            return []
        return [replace(task, id=new_task_id()) for _ in range(count)]
