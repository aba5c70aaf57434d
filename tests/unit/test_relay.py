"""The outbox relay: committed tasks that never reached the broker get published once."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path

import pytest

from corehub.config import Settings
from corehub.modules import echo_bot
from corehub.registry import Registry
from corehub.scheduler import Relay
from corehub.service.tasks import SCHEDULER_ROLE, SubmitRequest, TaskService
from corehub.store import Database, NewTask, TaskRecord, TaskStore
from corehub.store.leadership import LeaderLeases
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


def test_a_deposed_leaders_drain_stops_when_its_marks_are_refused(store: TaskStore) -> None:
    """Its publishes go out (the claim absorbs the duplicates), its fenced marks do not: the
    batch stays unmarked, and a drain that counted it published sent it again and again."""
    _stranded(store, 3)
    leases = LeaderLeases(store.db)
    stale = leases.acquire(SCHEDULER_ROLE, "old", timedelta(seconds=0.3))
    time.sleep(0.4)
    assert leases.acquire(SCHEDULER_ROLE, "new", timedelta(seconds=10)) is not None
    publisher = FakePublisher()  # raises if called more than 10 times
    marked = Relay(store, publisher, grace=timedelta(0), batch=2).drain(fence=stale)
    assert (marked, publisher.calls, len(publisher.published)) == (0, 1, 2)


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


def _service(store: TaskStore, publisher: FakePublisher) -> TaskService:
    registry = Registry()
    echo_bot.register_tasks(registry)
    return TaskService(store, registry, publisher, Settings())


def _row_versions(store: TaskStore, ids: list[str]) -> dict[str, object]:
    """Each task's published_at and updated_at: a mark written later would set them."""
    return {i: (r.published_at, r.updated_at) for i in ids if (r := store.get(i)) is not None}


def test_submitted_tasks_are_stored_marked_and_no_mark_is_written_after(
    store: TaskStore,
) -> None:
    publisher = FakePublisher()
    records = _service(store, publisher).submit_many(
        [SubmitRequest("echo_bot.echo", {"text": str(i)}) for i in range(3)]
    )
    ids = [r.id for r in records]
    store.marks.flush()

    assert publisher.published == ids
    assert _row_versions(store, ids) == {r.id: (r.created_at, r.created_at) for r in records}
    assert store.unpublished(older_than=timedelta(0), limit=10) == []


def test_what_a_submit_could_not_publish_is_unmarked_for_the_relay(store: TaskStore) -> None:
    records = _service(store, FakePublisher(accept=False)).submit_many(
        [SubmitRequest("echo_bot.echo", {"text": str(i)}) for i in range(2)]
    )

    stranded = store.unpublished(older_than=timedelta(0), limit=10)
    assert sorted(t.id for t in stranded) == sorted(r.id for r in records)
    relay = FakePublisher()
    Relay(store, relay, grace=timedelta(0)).drain()
    assert sorted(relay.published) == sorted(r.id for r in records)


def test_a_task_whose_submitter_died_before_publishing_is_found_by_the_redelivery_check(
    store: TaskStore,
) -> None:
    """Committed marked, never published (the process died between): not the relay's
    every-tick work, but a broker-lost task once the redelivery window has passed."""
    ids = [r.id for r in store.create([NewTask(name="core.noop", queue="celery")], published=True)]
    publisher = FakePublisher()
    relay = Relay(store, publisher, grace=timedelta(0), redelivery=timedelta(seconds=10))

    assert store.unpublished(older_than=timedelta(0), limit=10) == []
    publish_long_ago(store, ids)  # as the window passing would leave it
    assert relay.run_once() == 1
    assert publisher.published == ids
