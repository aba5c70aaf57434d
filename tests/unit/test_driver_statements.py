"""Statements run on the driver behave as SQLAlchemy's would: values in and out through the
column types, errors wrapped the same way, an outage still `Unavailable`."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError

from corehub.errors import Conflict, Unavailable
from corehub.store import Database, NewTask, Outcome, TaskStatus, TaskStore
from corehub.store.migrate import upgrade
from corehub.store.models import events_table as ev
from corehub.store.models import tasks_table as t
from corehub.store.sql import FEW_ROWS, DriverStatement


def _task(store: TaskStore) -> str:
    return store.create([NewTask(name="echo_bot.echo", queue="celery")])[0].id


def test_a_finish_on_the_driver_stores_json_and_aware_times(db: Database) -> None:
    store = TaskStore(db)
    task_id = _task(store)
    lease = store.claim(task_id, "w1")
    assert lease is not None
    result = {"text": "héllo", "n": [1, 2.5, None], "nested": {"ok": True}}
    assert store.finish(lease, Outcome(TaskStatus.SUCCESS, result=result))
    record = store.get(task_id)
    assert record is not None and record.result == result
    assert record.updated_at.tzinfo is not None
    assert abs((datetime.now(UTC) - record.updated_at).total_seconds()) < 60
    finished = store.events(task_id)[-1]
    assert (finished.type, finished.created_at) == ("success", record.updated_at)


def test_a_failing_statement_is_wrapped_as_sqlalchemy_wraps_it(db: Database) -> None:
    statement = DriverStatement(
        insert(ev)
        .values(task_id=bindparam("p_task"), type="x", attempt=0, created_at=db.now())
        .returning(ev.c.id),
        db.engine.dialect,
    )
    with pytest.raises(IntegrityError), db.write() as conn:  # task_id is NOT NULL
        statement.first(conn, {"p_task": None})


def test_a_returned_row_reads_by_column_name(db: Database) -> None:
    store = TaskStore(db)
    task_id = _task(store)
    statement = DriverStatement(
        select(t.c.id, t.c.status, t.c.created_at).where(t.c.id == bindparam("p_id")),
        db.engine.dialect,
    )
    with db.read() as conn:
        row = statement.first(conn, {"p_id": task_id})
        missing = statement.first(conn, {"p_id": "nope"})
    assert (row.id, row.status, missing) == (task_id, "queued", None)
    assert row.created_at.tzinfo is not None


def test_a_locked_sqlite_database_is_unavailable_to_a_claim(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    db = Database(f"sqlite:///{path}", busy_timeout_ms=50)
    upgrade(db)
    store = TaskStore(db)
    task_id = _task(store)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the writer's lock
    try:
        with pytest.raises(Unavailable):
            store.claim(task_id, "w1")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert store.claim(task_id, "w1") is not None  # nothing was written by the failed one
    db.dispose()


def _kinds(n: int) -> NewTask:
    """One of four kinds of task, by `n`: every column an insert fills, in turn."""
    return [
        NewTask(name="echo_bot.echo", queue="celery", args=[1, "é"], kwargs={"k": {"n": None}}),
        NewTask(name="echo_bot.echo", queue="q2", priority="high", idempotency_key=f"key-{n}"),
        NewTask(name="echo_bot.echo", queue="celery", run_at=datetime(2030, 1, 1, tzinfo=UTC)),
        NewTask(name="echo_bot.echo", queue="celery", gated=True, needs=["smtp"]),
    ][n % 4]


# One row, a few (one INSERT each on PostgreSQL) and more than FEW_ROWS (COPY).
SIZES = [1, 4, FEW_ROWS + 4]


@pytest.mark.parametrize("size", SIZES)
def test_accepted_records_are_what_the_database_then_holds(db: Database, size: int) -> None:
    store = TaskStore(db)
    new = [_kinds(n) for n in range(size)]
    accepted = store.create(new)
    assert accepted == [store.get(task.id) for task in new]
    assert [[e.type for e in store.events(task.id)] for task in new] == [
        ["scheduled" if task.waits else "queued"] for task in new
    ]
    if size > 3:
        gated = accepted[3]
        assert gated.status is TaskStatus.SCHEDULED and gated.run_at == gated.created_at


@pytest.mark.parametrize("size", SIZES[1:])
def test_a_bulk_insert_that_fails_stores_none_of_its_rows(db: Database, size: int) -> None:
    store = TaskStore(db)
    taken = _task(store)
    fresh = [NewTask(name="echo_bot.echo", queue="celery") for _ in range(size - 1)]
    with pytest.raises(Conflict):
        store.create([*fresh, NewTask(id=taken, name="echo_bot.echo", queue="celery")])
    assert [store.get(task.id) for task in fresh] == [None] * len(fresh)
    assert [store.events(task.id) for task in fresh] == [[]] * len(fresh)
