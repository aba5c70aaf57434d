"""Attempt leases and the leader lease: heartbeats keep work, rescue ends it, epochs fence."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from corehub.store import Database, Lease, NewTask, Outcome, TaskStatus, TaskStore
from corehub.store.leadership import LeaderLeases
from corehub.store.models import tasks_table

S = TaskStatus
LOST = "heartbeats stopped"
SHORT = timedelta(seconds=0.3)


@pytest.fixture
def store(db: Database) -> TaskStore:
    return TaskStore(db)


@pytest.fixture
def role() -> str:
    """A role name of this test's own: the lease table is shared by the module's tests."""
    return f"role-{uuid.uuid4().hex[:8]}"


def _started(store: TaskStore, max_attempts: int = 3) -> tuple[str, str]:
    [task] = store.create([NewTask(name="core.sleep", queue="celery", max_attempts=max_attempts)])
    lease = store.claim(task.id, "w1")
    assert lease is not None
    return task.id, lease.token


def test_a_stale_attempt_is_requeued_with_a_rescued_event(store: TaskStore) -> None:
    task_id, _ = _started(store)
    time.sleep(0.4)
    rescue = store.attempts.rescue_stale(timeout=SHORT, fence=None, reason=LOST)
    row, last = store.get(task_id), store.events(task_id)[-1]
    assert (rescue.requeued, row and row.status, (last.type, last.from_status, last.to_status)) == (
        [task_id],
        S.QUEUED,
        ("rescued", "started", "queued"),
    )


def test_an_attempt_with_fresh_heartbeats_is_never_rescued(store: TaskStore) -> None:
    task_id, token = _started(store)
    for _ in range(4):
        time.sleep(0.15)
        store.attempts.beat([token])
    rescue = store.attempts.rescue_stale(timeout=SHORT, fence=None, reason=LOST)
    row = store.get(task_id)
    assert (rescue.requeued, rescue.dead, row and row.status) == ([], [], S.STARTED)


def test_a_stale_attempt_with_no_attempts_left_is_dead(store: TaskStore) -> None:
    task_id, _ = _started(store, max_attempts=1)
    rescue = store.attempts.rescue_stale(timeout=timedelta(0), fence=None, reason=LOST)
    row = store.get(task_id)
    assert (rescue.dead, row and row.status, row and row.error_class) == (
        [task_id],
        S.DEAD,
        "worker_lost",
    )


def test_a_rescued_attempt_that_wakes_up_is_fenced(store: TaskStore) -> None:
    task_id, token = _started(store)
    store.attempts.rescue_stale(timeout=timedelta(0), fence=None, reason=LOST)
    finished = store.finish(Lease(task_id, token, 1), Outcome(S.SUCCESS, result=1))
    row, last = store.get(task_id), store.events(task_id)[-1]
    assert (finished, row and row.status, last.type) == (False, S.QUEUED, "fenced")


def test_a_heartbeat_does_not_touch_other_leases(store: TaskStore) -> None:
    first, _ = _started(store)
    _second, second_token = _started(store)
    before = store.get(first)
    time.sleep(0.05)
    store.attempts.beat([second_token])
    assert store.get(first) == before


def test_only_one_holder_leads_at_a_time(store: TaskStore, role: str) -> None:
    leases = LeaderLeases(store.db)
    a = leases.acquire(role, "a", timedelta(seconds=30))
    b = leases.acquire(role, "b", timedelta(seconds=30))
    renewed = leases.acquire(role, "a", timedelta(seconds=30))
    assert (a and a.epoch, b, renewed and renewed.epoch) == (1, None, 1)


def test_an_expired_lease_passes_to_another_with_a_new_epoch(store: TaskStore, role: str) -> None:
    leases = LeaderLeases(store.db)
    leases.acquire(role, "a", SHORT)
    time.sleep(0.4)
    b = leases.acquire(role, "b", timedelta(seconds=30))
    a_again = leases.acquire(role, "a", timedelta(seconds=30))
    assert (b and b.epoch, a_again) == (2, None)


def test_a_deposed_leader_cannot_rescue(store: TaskStore, role: str) -> None:
    leases = LeaderLeases(store.db)
    old = leases.acquire(role, "a", SHORT)
    task_id, _ = _started(store)
    time.sleep(0.4)
    new = leases.acquire(role, "b", timedelta(seconds=30))
    by_old = store.attempts.rescue_stale(timeout=timedelta(0), fence=old, reason=LOST)
    by_new = store.attempts.rescue_stale(timeout=timedelta(0), fence=new, reason=LOST)
    assert (by_old.requeued, by_new.requeued) == ([], [task_id])


def test_a_released_lease_is_taken_at_once(store: TaskStore, role: str) -> None:
    leases = LeaderLeases(store.db)
    a = leases.acquire(role, "a", timedelta(seconds=30))
    assert a is not None
    leases.release(a)
    b = leases.acquire(role, "b", timedelta(seconds=30))
    state = leases.state(role)
    assert (b and b.epoch, state and state.holder, state and state.live) == (2, "b", True)


def _race_cancel_against_finish(store: TaskStore) -> tuple[bool, int, bool]:
    """(exactly one of the two won, final events recorded, the row agrees with the log)."""
    task_id, token = _started(store)
    barrier = threading.Barrier(2)
    won: dict[str, bool] = {}

    def finish() -> None:
        barrier.wait()
        won["finish"] = store.finish(Lease(task_id, token, 1), Outcome(S.SUCCESS))

    def cancel() -> None:
        barrier.wait()
        won["cancel"] = store.cancel(task_id, "race") is not None

    threads = [threading.Thread(target=finish), threading.Thread(target=cancel)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    row = store.get(task_id)
    finals = [e for e in store.events(task_id) if e.to_status in ("success", "cancelled")]
    agrees = bool(finals) and row is not None and row.status.value == finals[0].to_status
    return won["finish"] != won["cancel"], len(finals), agrees


def test_cancel_racing_a_finish_has_exactly_one_winner(store: TaskStore) -> None:
    assert [_race_cancel_against_finish(store) for _ in range(10)] == [(True, 1, True)] * 10


@pytest.fixture
def pg_store(pg_database: Database) -> TaskStore:
    store = TaskStore(pg_database)
    store.delete_all()
    return store


def _holding(store: TaskStore, task_id: str, **values: Any) -> Any:
    """Another transaction's UPDATE of the task, not yet committed (its row locked)."""
    other = store.db.engine.connect()
    other.execute(update(tasks_table).where(tasks_table.c.id == task_id).values(**values))
    return other


@pytest.mark.servers
def test_a_finish_committed_while_the_rescue_waits_for_its_row_is_kept(
    pg_store: TaskStore,
) -> None:
    """The rescue found the attempt stale, then waited for the row its finish held: the
    finished row is checked anew, not put back in the queue."""
    task_id, _ = _started(pg_store)
    finishing = _holding(pg_store, task_id, status=S.SUCCESS.value, worker="finished")
    found: list[Any] = []

    def rescue() -> None:
        found.append(pg_store.attempts.rescue_stale(timeout=timedelta(0), fence=None, reason=LOST))

    rescuing = threading.Thread(target=rescue)
    rescuing.start()
    time.sleep(0.3)  # the rescue now waits for the row
    finishing.commit()
    finishing.close()
    rescuing.join(timeout=10)
    row = pg_store.get(task_id)
    assert found and (found[0].requeued, found[0].dead) == ([], [])
    assert row is not None and (row.status, row.worker) == (S.SUCCESS, "finished")


@pytest.mark.servers
def test_a_heartbeat_skips_a_row_another_transaction_holds(pg_store: TaskStore) -> None:
    """In a threads pool a beat that waited could close a cycle with finishes written
    together; it beats what it can and the rest at its next interval."""
    held_id, held_token = _started(pg_store)
    _free_id, free_token = _started(pg_store)
    holder = _holding(pg_store, held_id, worker="holding")
    beaten: list[int] = []
    beating = threading.Thread(
        target=lambda: beaten.append(pg_store.attempts.beat([held_token, free_token]))
    )
    beating.start()
    beating.join(timeout=5)
    waited = beating.is_alive()
    holder.rollback()
    holder.close()
    beating.join()
    assert not waited and beaten == [1]
