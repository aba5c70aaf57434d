"""Delayed tasks and periodic schedules: slots, exactly-once firing, release never early."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from corehub.config import Settings, load_settings
from corehub.config.settings import ScheduleConfig, SchedulerSettings
from corehub.engine.embedded import EmbeddedWorker
from corehub.errors import ConfigError, Conflict, InvalidInput
from corehub.modules import core, echo_bot
from corehub.registry import Registry
from corehub.runtime import Runtime, build_runtime
from corehub.scheduler import Relay, Scheduler
from corehub.scheduler.periodic import PeriodicDuty, Timing, plan
from corehub.service import SubmitRequest, TaskService
from corehub.service.schedules import ScheduleRequest, ScheduleService
from corehub.store import Database, NewTask, TaskFilter, TaskRecord, TaskStatus, TaskStore
from corehub.store.leadership import Fence, LeaderLeases
from corehub.store.schedules import ScheduleRecord, ScheduleStore
from tests.unit.helpers import wait_for

S = TaskStatus
UTC0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
GRACE = timedelta(seconds=30)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


class RecordingPublisher:
    """The broker's side of publishing: hands every task over and remembers it."""

    def __init__(self) -> None:
        self.published: list[str] = []
        self._lock = threading.Lock()

    def publish(self, tasks: Sequence[TaskRecord]) -> list[str]:
        with self._lock:
            self.published += [t.id for t in tasks]
        return [t.id for t in tasks]

    def revoke(self, task_id: str, *, terminate: bool) -> None:
        pass


class RoleLeadership:
    """The scheduler's SQL leadership under a role of the test's own (the lease table is shared
    by a module's tests on PostgreSQL)."""

    def __init__(self, leases: LeaderLeases, role: str, ttl: timedelta) -> None:
        self.leases, self.role, self.ttl = leases, role, ttl
        self.holder = uuid.uuid4().hex[:8]
        self.fence: Fence | None = None

    def acquire(self) -> Fence | None:
        self.fence = self.leases.acquire(self.role, self.holder, self.ttl)
        return self.fence

    def release(self) -> None:
        if self.fence is not None:
            self.leases.release(self.fence)


# -- slots --------------------------------------------------------------------------------------


def test_interval_slots_are_multiples_of_the_period_from_the_epoch() -> None:
    timing = Timing(every=60)
    assert [timing.next_after(at("2025-01-01T12:00:30+00:00")), timing.next_after(UTC0)] == [
        at("2025-01-01T12:01:00+00:00"),
        at("2025-01-01T12:01:00+00:00"),
    ]


def test_interval_slots_of_a_fractional_period_do_not_drift() -> None:
    timing, slot = Timing(every=0.1), UTC0
    for _ in range(1000):
        slot = timing.next_after(slot)
    assert slot == UTC0 + timedelta(seconds=100)


def test_cron_slots_follow_the_wall_clock_of_their_zone_across_dst() -> None:
    timing = Timing(cron="0 9 * * *", timezone="Europe/Paris")
    first = timing.next_after(at("2025-03-29T00:00:00+00:00"))
    assert [first, timing.next_after(first)] == [
        at("2025-03-29T08:00:00+00:00"),  # 09:00 CET
        at("2025-03-30T07:00:00+00:00"),  # 09:00 CEST, the day clocks go forward
    ]


def test_a_cron_time_that_dst_skips_fires_once_at_the_shift() -> None:
    timing = Timing(cron="30 2 * * *", timezone="Europe/Paris")
    first = timing.next_after(at("2025-03-29T12:00:00+00:00"))
    assert [first, timing.next_after(first)] == [
        at("2025-03-30T01:00:00+00:00"),  # 03:00 CEST: 02:30 does not exist that night
        at("2025-03-31T00:30:00+00:00"),
    ]


def test_a_cron_time_that_dst_repeats_fires_once() -> None:
    timing = Timing(cron="30 1 * * *", timezone="America/New_York")
    first = timing.next_after(at("2025-11-02T00:00:00+00:00"))
    assert [first, timing.next_after(first)] == [
        at("2025-11-02T05:30:00+00:00"),  # 01:30 EDT; 01:30 EST an hour later is not a slot
        at("2025-11-03T06:30:00+00:00"),
    ]


def test_a_schedule_not_yet_due_fires_nothing() -> None:
    steps = plan(Timing(every=60), UTC0, UTC0 - timedelta(seconds=1), misfire="skip", grace=GRACE)
    assert (steps.slots, steps.next_fire_at) == ([], UTC0)


def test_a_slot_on_time_fires_and_the_next_one_is_waited_for() -> None:
    steps = plan(Timing(every=60), UTC0, UTC0 + timedelta(seconds=1), misfire="skip", grace=GRACE)
    assert (steps.slots, steps.next_fire_at) == ([UTC0], UTC0 + timedelta(minutes=1))


def test_skip_drops_slots_later_than_the_grace() -> None:
    now = UTC0 + timedelta(minutes=10, seconds=45)  # the last slot is 45 s late
    steps = plan(Timing(every=60), UTC0, now, misfire="skip", grace=GRACE)
    assert (steps.slots, steps.next_fire_at, steps.missed) == (
        [],
        UTC0 + timedelta(minutes=11),
        11,
    )


def test_skip_fires_each_due_slot_within_the_grace() -> None:
    now = UTC0 + timedelta(seconds=25)
    steps = plan(Timing(every=10), UTC0, now, misfire="skip", grace=GRACE)
    assert steps.slots == [UTC0 + timedelta(seconds=s) for s in (0, 10, 20)]


def test_run_once_fires_one_task_for_every_missed_slot() -> None:
    now = UTC0 + timedelta(hours=1, seconds=5)
    steps = plan(Timing(every=60), UTC0, now, misfire="run_once", grace=GRACE)
    assert (steps.slots, steps.next_fire_at, steps.missed) == (
        [UTC0 + timedelta(hours=1)],
        UTC0 + timedelta(hours=1, minutes=1),
        60,
    )


# -- the store and the duty, on SQLite and PostgreSQL -----------------------------------------


def _registry() -> Registry:
    registry = Registry()
    core.register_tasks(registry)
    echo_bot.register_tasks(registry)
    return registry


@pytest.fixture
def tasks(db: Database) -> TaskService:
    ScheduleStore(db).delete_all()
    return TaskService(TaskStore(db), _registry(), RecordingPublisher(), Settings())


@pytest.fixture
def schedules(tasks: TaskService) -> ScheduleService:
    return ScheduleService(ScheduleStore(tasks.store.db), tasks)


def _publisher(tasks: TaskService) -> RecordingPublisher:
    assert isinstance(tasks.publisher, RecordingPublisher)
    return tasks.publisher


def _define(
    schedules: ScheduleService, name: str = "tick", *, every: float = 60, **kw: object
) -> ScheduleRecord:
    return schedules.create(ScheduleRequest(name, "core.noop", every=every, **kw))  # type: ignore[arg-type]


def _due_now(schedules: ScheduleService, name: str) -> ScheduleRecord:
    """Move a schedule's next slot to the latest one already past, as if it were due."""
    record = schedules.get(name)
    timing = Timing(record.every_seconds, record.cron, record.timezone)
    slot = timing.last_at_or_before(schedules.store.db.clock())
    changed = schedules.store.set_paused(name, record.paused, next_fire_at=slot)
    assert changed is not None
    return changed


def _duty(tasks: TaskService) -> PeriodicDuty:
    return PeriodicDuty(ScheduleStore(tasks.store.db), tasks, grace=timedelta(minutes=5))


def test_a_due_slot_becomes_one_queued_task_published_at_once(
    tasks: TaskService, schedules: ScheduleService
) -> None:
    _define(schedules)
    record = _due_now(schedules, "tick")
    fired = _duty(tasks).fire_due(None)
    fires = schedules.store.fires("tick")
    events = tasks.store.events(fired[0].id)
    assert (
        [(t.name, t.status) for t in fired],
        [(f.fire_at, f.task_id) for f in fires],
        [e.type for e in events],
        _publisher(tasks).published,
    ) == (
        [("core.noop", S.QUEUED)],
        [(record.next_fire_at, fired[0].id)],
        ["queued"],
        [fired[0].id],
    )


def test_firing_moves_the_schedule_to_its_next_slot(
    tasks: TaskService, schedules: ScheduleService
) -> None:
    _define(schedules)
    record = _due_now(schedules, "tick")
    _duty(tasks).fire_due(None)
    after = schedules.get("tick")
    assert (after.last_fire_at, after.next_fire_at) == (
        record.next_fire_at,
        record.next_fire_at + timedelta(seconds=60),
    )


def test_a_schedule_fired_again_from_a_stale_read_fires_nothing(
    tasks: TaskService, schedules: ScheduleService
) -> None:
    _define(schedules)
    record = _due_now(schedules, "tick")
    task = tasks.prepare(SubmitRequest("core.noop"))
    store = schedules.store
    first = store.fire(record, [(record.next_fire_at, task)], next_fire_at=UTC0, fence=None)
    again = store.fire(record, [(record.next_fire_at, task)], next_fire_at=UTC0, fence=None)
    assert (len(first), again) == (1, [])


def test_racing_firers_fire_each_slot_exactly_once(
    tasks: TaskService, schedules: ScheduleService
) -> None:
    """Two leaders that both believe they lead (no fence) and tick at the same moment."""
    _define(schedules, every=0.05)
    duties = [_duty(tasks), _duty(tasks)]
    deadline = time.monotonic() + 1.0
    errors: list[BaseException] = []

    def tick(duty: PeriodicDuty) -> None:
        try:
            while time.monotonic() < deadline:
                duty.fire_due(None)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=tick, args=(d,)) for d in duties]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    fires = schedules.store.fires("tick", limit=10_000)
    created = tasks.store.list_tasks(TaskFilter(name="core.noop"), limit=10_000).items
    # Each slot is one fires row (its primary key); what can go wrong is a second task.
    assert (errors, len(fires) >= 5, sorted(t.id for t in created)) == (
        [],
        True,
        sorted(f.task_id for f in fires),
    )


def test_a_stale_fence_fires_nothing(tasks: TaskService, schedules: ScheduleService) -> None:
    _define(schedules)
    _due_now(schedules, "tick")
    leases, role = LeaderLeases(tasks.store.db), f"role-{uuid.uuid4().hex[:8]}"
    old = leases.acquire(role, "old", timedelta(seconds=0.2))
    assert old is not None
    time.sleep(0.3)
    assert leases.acquire(role, "new", timedelta(seconds=10)) is not None
    fired = _duty(tasks).fire_due(old)
    assert (fired, schedules.store.fires("tick")) == ([], [])


def test_paused_schedules_do_not_fire(tasks: TaskService, schedules: ScheduleService) -> None:
    _define(schedules)
    _due_now(schedules, "tick")
    schedules.pause("tick")
    assert _duty(tasks).fire_due(None) == []


def test_two_schedulers_ticking_concurrently_fire_each_slot_once(
    tasks: TaskService, schedules: ScheduleService
) -> None:
    """Two full schedulers with real SQL leadership, ticking in threads for a while."""
    _define(schedules, every=0.1)
    role = f"scheduler-{uuid.uuid4().hex[:8]}"
    leases = LeaderLeases(tasks.store.db)
    schedulers = [
        Scheduler(
            Relay(tasks.store, _publisher(tasks), grace=timedelta(hours=1)),
            tasks.store.attempts,
            RoleLeadership(leases, role, timedelta(seconds=0.3)),
            tick_seconds=0.02,
            heartbeat_timeout=timedelta(hours=1),
            duties=[_duty(tasks)],
        )
        for _ in range(2)
    ]
    for s in schedulers:
        s.start_thread()
    time.sleep(1.2)
    for s in schedulers:
        s.stop()
    fires = schedules.store.fires("tick", limit=10_000)
    published = Counter(_publisher(tasks).published)
    assert (
        len(fires) >= 5,
        sorted(published) == sorted(f.task_id for f in fires),
        max(published.values()),
    ) == (True, True, 1)


# -- delayed tasks: run_at and countdown ------------------------------------------------------


def test_a_delayed_task_is_held_in_sql_not_published(tasks: TaskService) -> None:
    record = tasks.submit(SubmitRequest("core.noop", countdown=30))
    assert (record.status, _publisher(tasks).published) == (S.SCHEDULED, [])


def test_a_countdown_counts_from_the_database_clock(tasks: TaskService) -> None:
    before = tasks.store.db.clock()
    record = tasks.submit(SubmitRequest("core.noop", countdown=30))
    assert record.run_at is not None
    assert (
        before + timedelta(seconds=30) <= record.run_at <= record.created_at + timedelta(seconds=30)
    )


def test_a_delayed_task_is_released_when_due_and_never_before(tasks: TaskService) -> None:
    record = tasks.submit(SubmitRequest("core.noop", countdown=0.4))
    early = tasks.store.attempts.release_due(fence=None)
    assert wait_for(lambda: tasks.store.db.clock() >= record.run_at, timeout=2)  # type: ignore[operator]
    released = tasks.store.attempts.release_due(fence=None)
    queued = tasks.store.events(record.id)[-1]
    assert (
        early,
        [(r.id, r.status) for r in released],
        (queued.type, queued.from_status, queued.message),
        record.run_at is not None and queued.created_at >= record.run_at,
    ) == ([], [(record.id, S.QUEUED)], ("queued", "scheduled", "due"), True)


def test_a_run_at_in_the_past_is_released_on_the_next_release(tasks: TaskService) -> None:
    past = datetime.now(UTC) - timedelta(minutes=1)
    record = tasks.submit(SubmitRequest("core.noop", run_at=past))
    assert [r.id for r in tasks.store.attempts.release_due(fence=None)] == [record.id]


def test_gated_tasks_wait_for_admission_not_for_release(tasks: TaskService) -> None:
    new = tasks.prepare(SubmitRequest("core.noop"))
    gated = tasks.store.create([NewTask(name=new.name, queue=new.queue, gated=True)])[0]
    assert (gated.status, tasks.store.attempts.release_due(fence=None)) == (S.SCHEDULED, [])


def test_the_leader_publishes_released_tasks_in_the_same_tick(tasks: TaskService) -> None:
    record = tasks.submit(SubmitRequest("core.noop", run_at=UTC0))
    role = f"scheduler-{uuid.uuid4().hex[:8]}"
    leadership = RoleLeadership(LeaderLeases(tasks.store.db), role, timedelta(seconds=5))
    scheduler = Scheduler(
        Relay(tasks.store, _publisher(tasks), grace=timedelta(hours=1)),  # not the relay's doing
        tasks.store.attempts,
        leadership,
        tick_seconds=1,
        heartbeat_timeout=timedelta(hours=1),
    )
    scheduler.tick()
    leadership.release()
    published = tasks.store.get(record.id)
    assert (_publisher(tasks).published, published and published.published_at is not None) == (
        [record.id],
        True,
    )


@pytest.mark.parametrize(
    "req",
    [
        SubmitRequest("core.noop", run_at=datetime(2030, 1, 1)),  # no time zone
        SubmitRequest("core.noop", run_at=UTC0, countdown=1),
        SubmitRequest("core.noop", countdown=-1),
    ],
    ids=["naive", "both", "negative"],
)
def test_bad_delays_are_invalid_input(tasks: TaskService, req: SubmitRequest) -> None:
    with pytest.raises(InvalidInput):
        tasks.submit(req)


def test_an_idempotency_key_stands_for_the_delay_too(tasks: TaskService) -> None:
    tasks.submit(SubmitRequest("core.noop", idempotency_key="k", countdown=10))
    with pytest.raises(Conflict):
        tasks.submit(SubmitRequest("core.noop", idempotency_key="k", countdown=20))


# -- definitions: the service and the config file ---------------------------------------------


def test_a_new_schedule_waits_for_its_next_slot(schedules: ScheduleService) -> None:
    before = schedules.store.db.clock()
    record = _define(schedules, every=3600)
    assert before < record.next_fire_at <= before + timedelta(hours=1)


def test_redefining_a_schedule_keeps_its_slot_unless_its_timing_changes(
    schedules: ScheduleService,
) -> None:
    first = _define(schedules, every=3600)
    same = schedules.update("tick", ScheduleRequest("tick", "core.noop", every=3600, paused=True))
    other = schedules.update("tick", ScheduleRequest("tick", "core.noop", every=7))
    assert (same.next_fire_at == first.next_fire_at, same.paused, other.every_seconds) == (
        True,
        True,
        7,
    )


def test_resuming_does_not_fire_the_slots_missed_while_paused(
    tasks: TaskService, schedules: ScheduleService
) -> None:
    _define(schedules)
    _due_now(schedules, "tick")
    schedules.pause("tick")
    resumed = schedules.resume("tick")
    assert (resumed.next_fire_at > tasks.store.db.clock(), _duty(tasks).fire_due(None)) == (
        True,
        [],
    )


def test_run_now_submits_the_task_and_leaves_the_slots(
    tasks: TaskService, schedules: ScheduleService
) -> None:
    record = schedules.create(
        ScheduleRequest("greet", "echo_bot.echo", kwargs={"text": "hi"}, every=3600)
    )
    task = schedules.run_now("greet")
    assert (task.name, task.kwargs, task.status, schedules.get("greet")) == (
        "echo_bot.echo",
        {"text": "hi"},
        S.QUEUED,
        record,
    )


@pytest.mark.parametrize(
    "req",
    [
        ScheduleRequest("a", "core.noop"),  # no timing
        ScheduleRequest("a", "core.noop", every=1, cron="* * * * *"),
        ScheduleRequest("a", "core.noop", cron="61 * * * *"),
        ScheduleRequest("a", "core.noop", cron="0 9 * * *", timezone="Mars/Olympus"),
        ScheduleRequest("a", "core.nope", every=1),
        ScheduleRequest("a", "echo_bot.echo", every=1, kwargs={"nope": 1}),
        ScheduleRequest("a b", "core.noop", every=1),
        ScheduleRequest("a", "core.noop", every=1, misfire="later"),
        ScheduleRequest("a", "core.noop", every=1, priority="urgent"),
    ],
    ids=["no-timing", "both", "bad-cron", "bad-zone", "task", "args", "name", "misfire", "prio"],
)
def test_bad_definitions_are_invalid_input(
    schedules: ScheduleService, req: ScheduleRequest
) -> None:
    with pytest.raises(InvalidInput):
        schedules.create(req)


def _config(*items: ScheduleConfig) -> list[ScheduleConfig]:
    return list(items)


def test_config_schedules_are_synced_and_removed_with_the_config(
    schedules: ScheduleService,
) -> None:
    _define(schedules, "by-api")
    schedules.sync_config(_config(ScheduleConfig(name="a", task="core.noop", every=5)))
    schedules.sync_config(_config(ScheduleConfig(name="b", task="core.noop", cron="0 * * * *")))
    assert [(r.name, r.source) for r in schedules.list_schedules()] == [
        ("b", "config"),
        ("by-api", "api"),
    ]


def test_a_config_schedule_keeps_its_slot_and_pause_across_restarts(
    schedules: ScheduleService,
) -> None:
    config = _config(ScheduleConfig(name="a", task="core.noop", every=3600))
    schedules.sync_config(config)
    paused = schedules.pause("a")
    schedules.sync_config(config)
    again = schedules.get("a")
    assert (again.paused, again.next_fire_at) == (True, paused.next_fire_at)


def test_a_config_schedule_of_an_unknown_task_is_a_config_error(
    schedules: ScheduleService,
) -> None:
    config = _config(
        ScheduleConfig(name="a", task="core.nope", every=5),
        ScheduleConfig(name="b", task="echo_bot.echo", every=5, kwargs={"nope": 1}),
    )
    with pytest.raises(ConfigError) as caught:
        schedules.sync_config(config)
    assert [p.split(":")[0] for p in caught.value.problems] == [
        "schedules.0 (a)",
        "schedules.1 (b)",
    ]


def test_the_api_cannot_change_or_delete_a_config_schedule(schedules: ScheduleService) -> None:
    schedules.sync_config(_config(ScheduleConfig(name="a", task="core.noop", every=5)))
    outcomes = []
    for change in (
        lambda: schedules.update("a", ScheduleRequest("a", "core.noop", every=9)),
        lambda: schedules.delete("a"),
    ):
        with pytest.raises(Conflict):
            change()
        outcomes.append("conflict")
    assert (outcomes, schedules.get("a").every_seconds) == (["conflict", "conflict"], 5)


def test_health_check_runs_every_60_s_by_default(clean_env: Path) -> None:
    [default] = load_settings().schedules
    assert (default.name, default.task, default.every) == (
        "core.health_check",
        "core.health_check",
        60,
    )


def test_bad_schedules_in_config_give_one_problem_each(clean_env: Path) -> None:
    (clean_env / "corehub.yaml").write_text(
        "schedules:\n"
        "  - {name: a, task: core.noop, cron: '* * *'}\n"
        "  - {name: b, task: core.noop, every: 5, timezone: Nowhere/Land}\n"
        "  - {name: c, task: core.noop}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert [p.split(" ")[0] for p in caught.value.problems] == [
        "schedules.0.cron",
        "schedules.1.timezone",
        "schedules.2",
    ]


def test_the_misfire_grace_is_a_setting() -> None:
    assert SchedulerSettings().misfire_grace_seconds == 30


# -- end to end: the embedded hub ---------------------------------------------------------------


@pytest.fixture
def hub(clean_env: Path) -> Iterator[Runtime]:
    """A runtime with a worker and a running scheduler, in this process, on SQLite."""
    settings = Settings(
        data_dir=clean_env / "data",
        scheduler=SchedulerSettings(tick_seconds=0.05),
        schedules=[ScheduleConfig(name="fast", task="core.noop", every=0.2)],
    )
    rt = build_runtime(settings)
    worker = EmbeddedWorker(rt.celery, 2)
    scheduler = rt.scheduler()
    worker.start()
    scheduler.start_thread()
    yield rt
    scheduler.stop()
    worker.stop()
    rt.close()


def test_a_delayed_task_runs_after_its_run_at(hub: Runtime) -> None:
    submitted = hub.service.submit(SubmitRequest("core.noop", countdown=0.5))

    def done() -> bool:
        record = hub.store.get(submitted.id)
        return record is not None and record.status is S.SUCCESS

    assert wait_for(done, timeout=10)
    ran = hub.store.get(submitted.id)
    assert submitted.run_at is not None and ran is not None and ran.started_at is not None
    assert ran.started_at >= submitted.run_at


def test_a_configured_schedule_runs_its_task_on_each_slot(hub: Runtime) -> None:
    def ran_twice() -> bool:
        page = hub.store.list_tasks(TaskFilter(name="core.noop", statuses=(S.SUCCESS,)), limit=50)
        return len(page.items) >= 2

    assert wait_for(ran_twice, timeout=10)


def test_a_config_cron_that_never_fires_is_refused_when_settings_load() -> None:
    with pytest.raises(ValidationError, match="never fires"):
        ScheduleConfig(name="a", task="core.noop", cron="0 0 30 2 *")
