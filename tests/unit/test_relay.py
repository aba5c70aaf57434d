"""The outbox relay: committed tasks that never reached the broker get published once."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path

import pytest

from corehub.scheduler import Relay
from corehub.store import Database, NewTask, TaskRecord, TaskStore
from corehub.store.migrate import upgrade
from tests.unit.helpers import publish_long_ago


class FakePublisher:
    """Hands over everything (or nothing); refuses to be called more than `max_calls` times."""

    def __init__(self, *, accept: bool = True, max_calls: int = 10) -> None:
        self.accept = accept
        self.max_calls = max_calls
        self.published: list[str] = []
        self.calls = 0

    def publish(self, tasks: Sequence[TaskRecord]) -> list[str]:
        self.calls += 1
        if self.calls > self.max_calls:
            raise RuntimeError(f"publish called {self.calls} times")
        ids = [task.id for task in tasks] if self.accept else []
        self.published += ids
        return ids


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TaskStore]:
    db = Database(f"sqlite:///{tmp_path / 'corehub.db'}")
    upgrade(db)
    yield TaskStore(db)
    db.dispose()


def _stranded(store: TaskStore, n: int) -> list[str]:
    new = [NewTask(name="core.noop", queue="celery") for _ in range(n)]
    return [r.id for r in store.create(new)]


def test_drain_publishes_every_stranded_task_once(store: TaskStore) -> None:
    ids = _stranded(store, 3)
    publisher = FakePublisher()
    Relay(store, publisher, grace=timedelta(0)).drain()
    assert sorted(publisher.published) == sorted(ids)


def test_drain_marks_what_it_published(store: TaskStore) -> None:
    _stranded(store, 3)
    Relay(store, FakePublisher(), grace=timedelta(0)).drain()
    assert store.unpublished(older_than=timedelta(0), limit=10) == []


def test_drain_publishes_in_batches(store: TaskStore) -> None:
    ids = _stranded(store, 5)
    publisher = FakePublisher()
    Relay(store, publisher, grace=timedelta(0), batch=2).drain()
    assert (publisher.calls, sorted(publisher.published)) == (3, sorted(ids))


def test_run_once_leaves_tasks_younger_than_the_grace(store: TaskStore) -> None:
    _stranded(store, 2)
    publisher = FakePublisher()
    Relay(store, publisher, grace=timedelta(hours=1)).run_once()
    assert publisher.published == []


def test_drain_stops_when_the_broker_refuses(store: TaskStore) -> None:
    _stranded(store, 2)
    publisher = FakePublisher(accept=False)
    Relay(store, publisher, grace=timedelta(0)).drain()
    assert publisher.calls == 1


def test_drain_ends_when_marking_published_fails(
    store: TaskStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _stranded(store, 2)

    def locked(task_ids: object) -> None:
        raise RuntimeError("database is locked")

    monkeypatch.setattr(store, "mark_published", locked)
    publisher = FakePublisher(max_calls=5)
    Relay(store, publisher, grace=timedelta(0)).drain()
    assert publisher.calls == 1


def test_tasks_a_broker_lost_are_looked_for_every_tenth_of_the_redelivery_window(
    store: TaskStore,
) -> None:
    ids = _stranded(store, 2)
    now = [100.0]
    publisher = FakePublisher()
    relay = Relay(
        store, publisher, grace=timedelta(0), redelivery=timedelta(seconds=10), clock=lambda: now[0]
    )
    publish_long_ago(store, ids)
    assert relay.run_once() == 2  # the first tick looks, and publishes them again
    publish_long_ago(store, ids)
    assert relay.run_once() == 0  # not looked for again within a second (10 s / 10)
    now[0] += 1.0
    assert relay.run_once() == 2
    assert sorted(publisher.published) == sorted(ids + ids)
