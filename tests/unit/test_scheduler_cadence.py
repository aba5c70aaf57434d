"""What the scheduler looks at on clocks slower than its tick: stale attempts, the relay, the
pipeline sweep, and the renewal of its lease (which still fences every write)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from corehub.scheduler import Scheduler, SqlLeadership
from corehub.scheduler.cadence import Every
from corehub.scheduler.leader import ROLE
from corehub.store import Database, NewTask, TaskStatus, TaskStore
from corehub.store.attempts import Rescue
from corehub.store.leadership import Fence, LeaderLeases


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_every_is_due_at_once_then_once_per_period_or_again_when_asked() -> None:
    clock = Clock()
    every = Every(2.0, clock)
    seen = []
    for now in (0.0, 1.9, 2.0, 3.0, 4.1):
        clock.now = now
        seen.append(every.due())
    every.again()
    assert (seen, every.due(), every.due()) == ([True, False, True, False, True], True, False)


class CountingAttempts:
    def __init__(self, rescued: int = 0, due: bool = True) -> None:
        self.rescued, self.due, self.rescues, self.releases = rescued, due, [], 0

    def any_due(self, *, gated: bool) -> bool:
        return self.due and not gated

    def rescue_stale(self, **_: Any) -> Rescue:
        self.rescues.append(True)
        return Rescue(requeued=[f"t{i}" for i in range(self.rescued)])

    def release_due(self, **_: Any) -> list[Any]:
        self.releases += 1
        return []


class CountingRelay(SimpleNamespace):
    def drain(self, **_: Any) -> int:
        self.drains += 1
        return 0


class Leader:
    def acquire(self) -> Fence:
        return Fence("scheduler", "me", 1)

    def release(self) -> None:
        pass


def _ticks(attempts: CountingAttempts, seconds: list[float]) -> CountingRelay:
    clock = Clock()
    relay = CountingRelay(grace=timedelta(seconds=2), store=None, publisher=None, drains=0)
    scheduler = Scheduler(
        relay,  # type: ignore[arg-type]
        attempts,  # type: ignore[arg-type]
        Leader(),
        tick_seconds=0.5,
        heartbeat_timeout=timedelta(seconds=8),
        clock=clock,
    )
    for now in seconds:
        clock.now = now
        scheduler.tick()
    return relay


def test_stale_attempts_every_quarter_heartbeat_timeout_the_relay_every_half_grace() -> None:
    attempts = CountingAttempts()
    relay = _ticks(attempts, [n * 0.5 for n in range(9)])  # ticks over 4 s
    # due tasks every tick; stale attempts at 0, 2 and 4 s; the relay at 0, 1, 2, 3 and 4 s
    assert (attempts.releases, len(attempts.rescues), relay.drains) == (9, 3, 5)


def test_an_idle_tick_releases_nothing_without_a_due_task() -> None:
    attempts = CountingAttempts(due=False)
    _ticks(attempts, [0.0, 0.5])
    assert attempts.releases == 0


def test_due_waiting_tasks_are_told_apart_from_gated_and_future_ones(db: Database) -> None:
    store = TaskStore(db)
    past, future = datetime.now(UTC) - timedelta(1), datetime.now(UTC) + timedelta(1)
    seen = []
    for new in (
        NewTask(name="core.noop", queue="celery", run_at=future),
        NewTask(name="core.noop", queue="celery", run_at=past, gated=True),
        NewTask(name="core.noop", queue="celery", run_at=past),
    ):
        store.create([new])
        seen.append((store.attempts.any_due(gated=False), store.attempts.any_due(gated=True)))
    assert seen == [(False, False), (False, True), (True, True)]


def test_a_rescue_is_followed_by_another_look_at_the_next_tick() -> None:
    attempts = CountingAttempts(rescued=1)
    _ticks(attempts, [0.0, 0.5, 1.0])
    assert len(attempts.rescues) == 3


def test_a_check_made_late_in_a_tick_keeps_its_period() -> None:
    clock = Clock()
    every = Every(1.0, clock)
    seen = []
    for now in (0.05, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0):  # ticks; the first check came late
        clock.now = now
        seen.append(every.due())
    clock.now = 9.0  # a long pause: one look, then a period from now
    late = [every.due(), every.due()]
    clock.now = 9.9
    assert (seen, late, every.due()) == (
        [True, False, True, False, True, False, True],
        [True, False],
        False,
    )


def test_the_lease_is_renewed_every_quarter_of_its_ttl_not_every_tick(db: Database) -> None:
    clock = Clock()
    leases = LeaderLeases(db)
    leader = SqlLeadership(leases, timedelta(seconds=8), clock=clock)
    try:
        taken = leader.acquire()
        expiry = _expiry(leases)
        clock.now = 1.9
        within = leader.acquire()
        unchanged = _expiry(leases)
        time.sleep(0.01)  # the database's clock moves on
        clock.now = 2.0
        renewed = leader.acquire()
        later = _expiry(leases)
    finally:
        leader.release()
    # the fence stays the same one (same epoch): only the lease's expiry shows a renewal
    assert (taken, within, renewed) == (Fence(ROLE, leader.holder, 1),) * 3
    assert (unchanged == expiry, later > expiry) == (True, True)


def test_a_leader_deposed_between_renewals_writes_nothing_and_learns_it_at_the_next(
    db: Database,
) -> None:
    store = TaskStore(db)
    [due] = store.create(
        [NewTask(name="core.noop", queue="celery", run_at=datetime.now(UTC) - timedelta(1))]
    )
    old_clock, new_clock = Clock(), Clock()
    old = SqlLeadership(LeaderLeases(db), timedelta(seconds=0.3), clock=old_clock)
    new = SqlLeadership(LeaderLeases(db), timedelta(seconds=10), clock=new_clock)
    try:
        stale = old.acquire()
        time.sleep(0.4)  # the old leader's lease expires (it was paused, say)
        fresh = new.acquire()
        kept = old.acquire()  # not yet time to renew: the fence it holds is stale
        refused = store.attempts.release_due(fence=kept)
        old_clock.now = 0.3
        noticed = old.acquire()
        released = store.attempts.release_due(fence=fresh)
    finally:
        new.release()
    assert stale is not None and fresh is not None
    assert (kept == stale, fresh.epoch > stale.epoch, refused, noticed) == (True, True, [], None)
    assert [(r.id, r.status) for r in released] == [(due.id, TaskStatus.QUEUED)]


class FlakyLeases:
    def __init__(self) -> None:
        self.calls, self.away = 0, False

    def acquire(self, name: str, holder: str, ttl: timedelta) -> Fence:
        self.calls += 1
        if self.away:
            raise ConnectionError("the database is away")
        return Fence(name, holder, 1)


def test_a_failed_renewal_is_tried_again_at_the_next_tick() -> None:
    clock, leases = Clock(), FlakyLeases()
    leader = SqlLeadership(leases, timedelta(seconds=8), clock=clock)  # type: ignore[arg-type]
    leader.acquire()
    clock.now, leases.away = 2.0, True
    with pytest.raises(ConnectionError):
        leader.acquire()
    clock.now, leases.away = 2.2, False
    assert (leader.acquire(), leases.calls) == (Fence(ROLE, leader.holder, 1), 3)


def _expiry(leases: LeaderLeases) -> datetime:
    state = leases.state(ROLE)
    assert state is not None
    return state.expires_at
