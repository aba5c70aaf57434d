"""Admission of gated tasks and shared breaker state, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from corehub.resilience.breaker import BreakerPolicy, BreakerState
from corehub.resilience.ratelimit import Rate
from corehub.store import Database, NewTask, Outcome, TaskRecord, TaskStatus, TaskStore
from corehub.store.flow import FlowStore, TaskLimits
from corehub.store.leadership import Fence, LeaderLeases

S = TaskStatus
POLICY = BreakerPolicy(failure_threshold=2, window_seconds=60, reset_seconds=0.5)


@dataclass
class Rules:
    rate: Rate | None = None
    concurrency: int | None = None
    recheck: timedelta = timedelta(seconds=1)
    policies: dict[str, BreakerPolicy] = field(default_factory=dict)

    def limits(self, task_name: str) -> TaskLimits:
        return TaskLimits(self.rate, self.concurrency)

    def breaker(self, name: str) -> BreakerPolicy:
        return self.policies.get(name, POLICY)


@pytest.fixture
def store(db: Database) -> TaskStore:
    with db.write() as conn:  # the module's PostgreSQL database is shared: start clean
        from corehub.store.models import breakers_table, rate_buckets_table

        conn.execute(breakers_table.delete())
        conn.execute(rate_buckets_table.delete())
    return TaskStore(db)


@pytest.fixture
def flow(store: TaskStore) -> FlowStore:
    return FlowStore(store.db)


@pytest.fixture
def fence(store: TaskStore) -> Fence:
    got = LeaderLeases(store.db).acquire("scheduler", "test-leader", timedelta(seconds=60))
    assert got is not None
    return got


def gated(store: TaskStore, n: int = 1, **fields: Any) -> list[TaskRecord]:
    return store.create(
        [NewTask(name="echo_bot.echo", queue="celery", gated=True, **fields) for _ in range(n)]
    )


def status(store: TaskStore, task: TaskRecord) -> TaskStatus:
    record = store.get(task.id)
    assert record is not None
    return record.status


def event_types(store: TaskStore, task: TaskRecord) -> list[str]:
    return [e.type for e in store.events(task.id)]


def test_a_gated_task_is_accepted_as_scheduled_and_admitted_as_queued(
    store: TaskStore, flow: FlowStore, fence: Fence
) -> None:
    [task] = gated(store)
    admitted = flow.admit(Rules(), fence=fence)
    assert (task.status, [a.id for a in admitted], status(store, task)) == (
        S.SCHEDULED,
        [task.id],
        S.QUEUED,
    )


def test_an_admitted_task_is_unpublished_with_a_queued_event(
    store: TaskStore, flow: FlowStore, fence: Fence
) -> None:
    [task] = gated(store)
    [admitted] = flow.admit(Rules(), fence=fence)
    assert (admitted.published_at, event_types(store, task)) == (None, ["scheduled", "queued"])


def test_a_stale_fence_admits_nothing(store: TaskStore, flow: FlowStore, fence: Fence) -> None:
    gated(store)
    stale = Fence(fence.name, fence.holder, fence.epoch - 1)
    assert flow.admit(Rules(), fence=stale) == []


def test_a_rate_limit_admits_its_tokens_and_the_rest_wait_with_spaced_times(
    store: TaskStore, flow: FlowStore, fence: Fence
) -> None:
    tasks = gated(store, 5, rate_key="k")
    admitted = flow.admit(Rules(rate=Rate(2, 1)), fence=fence)
    waiting = [store.get(t.id) for t in tasks if t.id not in {a.id for a in admitted}]
    run_ats = sorted(w.run_at for w in waiting if w is not None and w.run_at is not None)
    gaps = [round((b - a).total_seconds(), 3) for a, b in itertools.pairwise(run_ats)]
    assert (len(admitted), len(run_ats), gaps) == (2, 3, [0.5, 0.5])


def test_a_rate_limited_task_records_a_rate_limited_event(
    store: TaskStore, flow: FlowStore, fence: Fence
) -> None:
    tasks = gated(store, 2, rate_key="k")
    flow.admit(Rules(rate=Rate(1, 60)), fence=fence)
    waiting = [t for t in tasks if status(store, t) is S.SCHEDULED]
    [event] = [e for e in store.events(waiting[0].id) if e.type == "rate_limited"]
    assert (event.data or {}).get("error_class") == "rate_limited"


def test_the_next_token_is_admitted_when_it_arrives(
    store: TaskStore, flow: FlowStore, fence: Fence
) -> None:
    gated(store, 3, rate_key="k")
    rules = Rules(rate=Rate(2, 1))  # two at once, then one every 0.5 s
    counts = [len(flow.admit(rules, fence=fence)), len(flow.admit(rules, fence=fence))]
    time.sleep(0.6)
    counts.append(len(flow.admit(rules, fence=fence)))
    assert counts == [2, 0, 1]


def test_buckets_are_separate_per_key(store: TaskStore, flow: FlowStore, fence: Fence) -> None:
    gated(store, 2, rate_key="a")
    gated(store, 2, rate_key="b")
    admitted = flow.admit(Rules(rate=Rate(1, 60)), fence=fence)
    assert sorted(a.rate_key or "" for a in admitted) == ["a", "b"]


def test_a_concurrency_limit_counts_queued_and_started_tasks(
    store: TaskStore, flow: FlowStore, fence: Fence
) -> None:
    tasks = gated(store, 3, concurrency_key="repo-1")
    rules = Rules(concurrency=2, recheck=timedelta(0))
    first = flow.admit(rules, fence=fence)
    lease = store.claim(first[0].id, "w")  # one starts, one stays queued: both count
    second = flow.admit(rules, fence=fence)
    waiting = [t for t in tasks if status(store, t) is S.SCHEDULED]
    assert (len(first), second, lease is not None, len(waiting)) == (2, [], True, 1)


def test_a_finished_task_frees_its_concurrency_slot(
    store: TaskStore, flow: FlowStore, fence: Fence
) -> None:
    gated(store, 3, concurrency_key="repo-1")
    rules = Rules(concurrency=2, recheck=timedelta(0))
    first = flow.admit(rules, fence=fence)
    lease = store.claim(first[0].id, "w")
    assert lease is not None
    store.finish(lease, Outcome(S.SUCCESS))
    assert len(flow.admit(rules, fence=fence)) == 1


def test_concurrency_is_fair_across_keys_oldest_first(
    store: TaskStore, flow: FlowStore, fence: Fence
) -> None:
    a = gated(store, 3, concurrency_key="a", rate_key="shared")
    b = gated(store, 1, concurrency_key="b", rate_key="shared")
    admitted = flow.admit(Rules(rate=Rate(2, 1), concurrency=5), fence=fence)
    assert ([t.id in {x.id for x in a} for t in admitted], admitted[1].id) == (
        [True, False],
        b[0].id,
    )


def test_running_counts_are_reported_per_key(
    store: TaskStore, flow: FlowStore, fence: Fence
) -> None:
    gated(store, 2, concurrency_key="x")
    flow.admit(Rules(concurrency=5), fence=fence)
    assert flow.running()["x"] == 2


def test_a_gated_retry_waits_for_admission_not_for_release(
    store: TaskStore, flow: FlowStore, fence: Fence
) -> None:
    [task] = gated(store)
    flow.admit(Rules(), fence=fence)
    lease = store.claim(task.id, "w")
    assert lease is not None
    retry = Outcome(S.RETRYING, error_class=None, retry_in=0.0)
    store.finish(lease, retry)
    released = store.attempts.release_due(fence=fence)
    admitted = flow.admit(Rules(), fence=fence)
    assert (released, [a.id for a in admitted], admitted[0].attempt) == ([], [task.id], 1)


def test_breaker_opens_after_threshold_failures(flow: FlowStore) -> None:
    for _ in range(2):
        [after] = flow.record_outcome(["db"], lambda _: POLICY, success=False)
    assert (after.state, after.times_opened, after.total_failures) == (BreakerState.OPEN, 1, 2)


def test_tasks_that_need_an_open_breaker_wait_until_its_reset_time(
    store: TaskStore, flow: FlowStore, fence: Fence
) -> None:
    for _ in range(2):
        [opened] = flow.record_outcome(["db"], lambda _: POLICY, success=False)
    [task] = gated(store, needs=["db"])
    admitted = flow.admit(Rules(), fence=fence)
    record = store.get(task.id)
    assert record is not None
    [waiting] = [e for e in store.events(task.id) if e.type == "waiting"]
    assert (admitted, record.status, record.run_at, (waiting.data or {})["error_class"]) == (
        [],
        S.SCHEDULED,
        opened.open_until,
        "breaker_open",
    )


def test_breaker_goes_half_open_with_one_probe_then_closes_on_success(
    store: TaskStore, flow: FlowStore, fence: Fence
) -> None:
    for _ in range(2):
        flow.record_outcome(["db"], lambda _: POLICY, success=False)
    tasks = gated(store, 2, needs=["db"])
    time.sleep(0.6)  # past the reset time
    [probe] = flow.admit(Rules(), fence=fence)
    [half] = flow.breakers()
    [closed] = flow.record_outcome(["db"], lambda _: POLICY, success=True)
    assert (probe.id in {t.id for t in tasks}, half.state, half.probe_task_id, closed.state) == (
        True,
        BreakerState.HALF_OPEN,
        probe.id,
        BreakerState.CLOSED,
    )


def test_a_failed_probe_opens_the_breaker_again(
    store: TaskStore, flow: FlowStore, fence: Fence
) -> None:
    for _ in range(2):
        flow.record_outcome(["db"], lambda _: POLICY, success=False)
    gated(store, 1, needs=["db"])
    time.sleep(0.6)
    flow.admit(Rules(), fence=fence)
    [again] = flow.record_outcome(["db"], lambda _: POLICY, success=False)
    assert (again.state, again.times_opened) == (BreakerState.OPEN, 2)


def test_a_reset_breaker_admits_waiting_tasks(
    store: TaskStore, flow: FlowStore, fence: Fence
) -> None:
    for _ in range(2):
        flow.record_outcome(["db"], lambda _: POLICY, success=False)
    [task] = gated(store, needs=["db"])
    flow.admit(Rules(), fence=fence)
    flow.reset_breaker("db")
    with store.db.write() as conn:  # its run_at is the old reset time; look now
        from corehub.store.models import tasks_table as t

        conn.execute(t.update().where(t.c.id == task.id).values(run_at=store.db.now()))
    assert [a.id for a in flow.admit(Rules(), fence=fence)] == [task.id]
