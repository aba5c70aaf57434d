"""Deferred publish marks: batched off the request path, only for tasks still queued."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import pytest

from corehub.store import Database, NewTask, TaskStore
from corehub.store.marks import PublishMarks


def _queued(store: TaskStore, n: int) -> list[str]:
    return [
        r.id for r in store.create([NewTask(name="core.noop", queue="celery") for _ in range(n)])
    ]


def test_marks_from_many_adds_are_written_in_one_statement(db: Database) -> None:
    store = TaskStore(db)
    ids = _queued(store, 6)
    writes: list[list[str]] = []

    def write(task_ids: list[str]) -> None:
        writes.append(task_ids)
        store.mark_published(task_ids)

    marks = PublishMarks(write, interval=0.05)
    for i in range(0, 6, 2):
        marks.add(ids[i : i + 2])
    deadline = time.monotonic() + 5
    while not writes and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    assert writes == [ids]
    assert store.unpublished(older_than=timedelta(0), limit=10) == []


def test_a_claimed_task_is_not_written_again_by_a_late_mark(db: Database) -> None:
    store = TaskStore(db)
    claimed, waiting = _queued(store, 2)
    lease = store.claim(claimed, "w1")
    assert lease is not None
    before = store.get(claimed)
    store.mark_published([claimed, waiting])
    after, marked = store.get(claimed), store.get(waiting)
    assert before is not None and after is not None and marked is not None
    assert (after.published_at, after.updated_at) == (before.published_at, before.updated_at)
    assert marked.published_at is not None


def test_a_failed_write_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    def broken(task_ids: list[str]) -> None:
        raise RuntimeError("database is locked")

    marks = PublishMarks(broken, interval=0)
    marks._pending = ["a", "b"]  # as add() leaves them, without starting the thread
    with caplog.at_level(logging.WARNING, logger="corehub.store"):
        assert marks.flush() == 2
    assert "could not mark 2 tasks published" in caplog.text
    assert marks.flush() == 0
