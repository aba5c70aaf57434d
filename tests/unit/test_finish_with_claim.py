"""On PostgreSQL an attempt's finish goes with the next claim, in one statement, each
recorded as if written alone (row, event); several finishes share one transaction."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import update

from corehub.store import Database, Lease, NewTask, Outcome, TaskStatus, TaskStore
from corehub.store.models import tasks_table
from corehub.store.pipelines import PipelineStore

S = TaskStatus


@pytest.fixture
def pipelines(pg_database: Database) -> PipelineStore:
    TaskStore(pg_database).delete_all()
    return PipelineStore(TaskStore(pg_database))


def _queued(store: TaskStore, count: int = 1) -> list[str]:
    return [task.id for task in store.create([NewTask("core.noop", "q") for _ in range(count)])]


def _started(pipelines: PipelineStore) -> Lease:
    (task_id,) = _queued(pipelines.tasks)
    lease = pipelines.claim(task_id, "w")
    assert lease is not None
    return lease


def _history(store: TaskStore, task_id: str) -> list[tuple[str, str | None, str | None]]:
    return [(e.type, e.from_status, e.to_status) for e in store.events(task_id)]


@pytest.mark.servers
def test_a_finish_and_the_next_claim_both_land(pipelines: PipelineStore) -> None:
    store = pipelines.tasks
    done = _started(pipelines)
    (next_id,) = _queued(store)
    finished, lease = pipelines.finish_then_claim(
        (done, Outcome(S.SUCCESS, result={"n": 1})), next_id, "w2"
    )
    finished_row, claimed_row = store.get(done.task_id), store.get(next_id)
    assert finished is True
    assert lease is not None and (lease.task_id, lease.attempt) == (next_id, 1)
    assert finished_row is not None and (finished_row.status, finished_row.result) == (
        S.SUCCESS,
        {"n": 1},
    )
    assert finished_row.finished_at is not None
    assert claimed_row is not None and (claimed_row.status, claimed_row.worker) == (S.STARTED, "w2")
    assert _history(store, done.task_id)[-1] == ("success", "started", "success")
    assert _history(store, next_id)[-1] == ("started", "queued", "started")


@pytest.mark.servers
def test_a_finish_lands_when_nothing_is_claimed(pipelines: PipelineStore) -> None:
    """A duplicate delivery of a running task claims nothing; the finish still lands, also
    when the claimed task is the one finishing (the claim sees it started)."""
    store = pipelines.tasks
    done, running = _started(pipelines), _started(pipelines)
    finished, lease = pipelines.finish_then_claim((done, Outcome(S.SUCCESS)), running.task_id, "w")
    again = _started(pipelines)
    finished_same, same = pipelines.finish_then_claim(
        (again, Outcome(S.SUCCESS)), again.task_id, "w"
    )
    assert (lease, finished, same, finished_same) == (None, True, None, True)
    statuses = [store.get(x.task_id) for x in (done, running, again)]
    assert [row and row.status for row in statuses] == [S.SUCCESS, S.STARTED, S.SUCCESS]


@pytest.mark.servers
def test_a_finish_that_lost_its_lease_changes_nothing(pipelines: PipelineStore) -> None:
    store = pipelines.tasks
    lost = _started(pipelines)
    store.cancel(lost.task_id, "cancelled while it ran")
    (next_id,) = _queued(store)
    finished, lease = pipelines.finish_then_claim((lost, Outcome(S.SUCCESS)), next_id, "w")
    row = store.get(lost.task_id)
    assert finished is False and lease is not None
    assert row is not None and row.status is S.CANCELLED


@pytest.mark.servers
def test_a_retry_riding_a_claim_is_due_after_its_delay(pipelines: PipelineStore) -> None:
    store = pipelines.tasks
    failed = _started(pipelines)
    (next_id,) = _queued(store)
    retry = Outcome(
        S.RETRYING,
        error_class=None,
        error_type="Flaky",
        error_message="try again",
        retry_in=30.0,
    )
    pipelines.finish_then_claim((failed, retry), next_id, "w")
    row = store.get(failed.task_id)
    assert row is not None and row.status is S.RETRYING and row.finished_at is not None
    assert row.run_at is not None
    assert timedelta(seconds=29) < row.run_at - row.finished_at <= timedelta(seconds=30)
    assert (row.error_type, row.error_message) == ("Flaky", "try again")


@pytest.mark.parametrize("lose", [None, 1])
def test_several_finishes_share_one_transaction(db: Database, lose: int | None) -> None:
    """On both databases, in the order given back whatever order they are written in."""
    pipelines = PipelineStore(TaskStore(db))
    store = pipelines.tasks
    done = [_started(pipelines) for _ in range(3)]
    if lose is not None:
        store.cancel(done[lose].task_id, "gone")
    finished = store.transitions.finish_many(
        [(d, Outcome(S.SUCCESS, result=n)) for n, d in reversed(list(enumerate(done)))]
    )
    rows = [store.get(d.task_id) for d in done]
    expected: list[tuple[TaskStatus, int | None]] = [(S.SUCCESS, n) for n in range(3)]
    if lose is not None:
        expected[lose] = (S.CANCELLED, None)
    assert finished == [n != lose for n in reversed(range(3))]
    assert [(r and r.status, r and r.result) for r in rows] == expected


@pytest.mark.servers
def test_a_finish_and_a_claim_are_one_statement_on_postgresql(
    pg_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counted at the driver (hot statements bypass SQLAlchemy's events): one statement, and
    no transaction of its own (autocommit: no BEGIN or COMMIT sent)."""
    TaskStore(pg_database).delete_all()
    pipelines = PipelineStore(TaskStore(pg_database))
    done = _started(pipelines)
    (next_id,) = _queued(pipelines.tasks)
    sent: list[str] = []
    execute = psycopg.Cursor.execute

    def count(cursor: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(str(query))
        return execute(cursor, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", count)
    finished, lease = pipelines.finish_then_claim((done, Outcome(S.SUCCESS)), next_id, "w")
    monkeypatch.undo()
    assert lease is not None and finished is True
    assert len(sent) == 1 and sent[0].lstrip().startswith("WITH finished AS")


@pytest.mark.servers
def test_a_publish_mark_never_waits_for_a_row_another_transaction_holds(
    pipelines: PipelineStore,
) -> None:
    """A claim can hold the task it finishes too: a mark that held one and waited for the
    other was a deadlock, which PostgreSQL broke after a second by failing the claim."""
    store = pipelines.tasks
    held, free = _queued(store, 2)
    with store.db.engine.connect() as other:
        other.execute(update(tasks_table).where(tasks_table.c.id == held).values(worker="claiming"))
        marking = threading.Thread(target=store.mark_published, args=([held, free],))
        marking.start()
        marking.join(timeout=5)
        waited = marking.is_alive()
        other.rollback()
    marking.join()
    assert not waited
    held_row, free_row = store.get(held), store.get(free)
    assert held_row is not None and held_row.published_at is None
    assert free_row is not None and free_row.published_at is not None
