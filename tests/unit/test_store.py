"""The record on SQLite and PostgreSQL: every transition is a compare-and-set with its event."""

from __future__ import annotations

import base64
import threading
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from corehub.config import Settings
from corehub.errors import Conflict, InvalidInput
from corehub.modules import echo_bot
from corehub.registry import Registry
from corehub.service import SubmitRequest, TaskService
from corehub.store import (
    Database,
    ErrorClass,
    Lease,
    NewTask,
    Outcome,
    TaskFilter,
    TaskRecord,
    TaskStatus,
    TaskStore,
)
from corehub.store.states import is_legal
from tests.unit.helpers import publish_long_ago

S = TaskStatus
SUCCESS = Outcome(S.SUCCESS, result={"answer": 42})
FAILURE = Outcome(
    S.FAILURE, error_class=ErrorClass.PERMANENT, error_type="RuntimeError", error_message="boom"
)


@pytest.fixture
def store(db: Database) -> TaskStore:
    return TaskStore(db)


def _new(name: str = "echo_bot.echo", **kwargs: Any) -> NewTask:
    return NewTask(name=name, queue="celery", kwargs=kwargs)


def _one(store: TaskStore, name: str = "echo_bot.echo") -> TaskRecord:
    return store.create([_new(name)])[0]


def _events(store: TaskStore, task_id: str) -> list[tuple[str, str | None, str | None, int]]:
    return [(e.type, e.from_status, e.to_status, e.attempt) for e in store.events(task_id)]


def _claimed(store: TaskStore) -> tuple[TaskRecord, Lease]:
    record = _one(store)
    lease = store.claim(record.id, "w1")
    assert lease is not None
    return record, lease


def _get(store: TaskStore, task_id: str) -> TaskRecord:
    record = store.get(task_id)
    assert record is not None
    return record


# -- accepting --------------------------------------------------------------------------------


def test_create_stores_a_queued_row(store: TaskStore) -> None:
    record = _one(store)
    assert _get(store, record.id).status is S.QUEUED


def test_create_records_a_queued_event(store: TaskStore) -> None:
    record = _one(store)
    assert _events(store, record.id) == [("queued", None, "queued", 0)]


def test_create_returns_records_in_request_order(store: TaskStore) -> None:
    new = [_new(n=i) for i in range(5)]
    assert [r.id for r in store.create(new)] == [t.id for t in new]


def test_create_keeps_arguments(store: TaskStore) -> None:
    kwargs: dict[str, Any] = {"text": "héllo 🎉", "nested": {"a": [1, 2.5, None, True]}}
    record = store.create([NewTask(name="echo_bot.echo", queue="celery", kwargs=kwargs)])[0]
    assert _get(store, record.id).kwargs == kwargs


def test_create_of_an_existing_id_raises_conflict(store: TaskStore) -> None:
    record = _one(store)
    with pytest.raises(Conflict):
        store.create([NewTask(name="echo_bot.echo", queue="celery", id=record.id)])


def test_create_with_a_duplicate_stores_nothing(store: TaskStore) -> None:
    record = _one(store)
    fresh = _new()
    with pytest.raises(Conflict):
        store.create([fresh, NewTask(name="x.y", queue="celery", id=record.id)])
    assert store.get(fresh.id) is None


# -- claiming ---------------------------------------------------------------------------------


def test_claim_starts_the_first_attempt(store: TaskStore) -> None:
    record, _ = _claimed(store)
    row = _get(store, record.id)
    assert (row.status, row.attempt, row.worker) == (S.STARTED, 1, "w1")


def test_claim_returns_a_lease_for_attempt_one(store: TaskStore) -> None:
    record, lease = _claimed(store)
    assert (lease.task_id, lease.attempt) == (record.id, 1)


def test_claim_records_a_started_event(store: TaskStore) -> None:
    record, _ = _claimed(store)
    assert _events(store, record.id)[-1] == ("started", "queued", "started", 1)


def test_second_claim_returns_none(store: TaskStore) -> None:
    record, _ = _claimed(store)
    assert store.claim(record.id, "w2") is None


def test_second_claim_changes_nothing(store: TaskStore) -> None:
    record, _ = _claimed(store)
    before = (_get(store, record.id), _events(store, record.id))
    store.claim(record.id, "w2")
    assert (_get(store, record.id), _events(store, record.id)) == before


def test_claim_of_an_unknown_id_returns_none(store: TaskStore) -> None:
    assert store.claim(str(uuid.uuid4()), "w1") is None


# -- finishing --------------------------------------------------------------------------------


def test_finish_with_the_lease_returns_true(store: TaskStore) -> None:
    _, lease = _claimed(store)
    assert store.finish(lease, SUCCESS) is True


def test_finish_with_the_lease_stores_success_and_result(store: TaskStore) -> None:
    record, lease = _claimed(store)
    store.finish(lease, SUCCESS)
    row = _get(store, record.id)
    assert (row.status, row.result) == (S.SUCCESS, {"answer": 42})


def test_finish_with_failure_stores_the_error(store: TaskStore) -> None:
    record, lease = _claimed(store)
    store.finish(lease, FAILURE)
    row = _get(store, record.id)
    assert (row.status, row.error_class, row.error_message) == (S.FAILURE, "permanent", "boom")


def test_success_events_are_queued_started_success(store: TaskStore) -> None:
    record, lease = _claimed(store)
    store.finish(lease, SUCCESS)
    assert _events(store, record.id) == [
        ("queued", None, "queued", 0),
        ("started", "queued", "started", 1),
        ("success", "started", "success", 1),
    ]


def test_finish_with_a_wrong_lease_returns_false(store: TaskStore) -> None:
    record, lease = _claimed(store)
    assert store.finish(Lease(record.id, str(uuid.uuid4()), lease.attempt), SUCCESS) is False


def test_finish_with_a_wrong_lease_leaves_the_row_unchanged(store: TaskStore) -> None:
    record, lease = _claimed(store)
    before = _get(store, record.id)
    store.finish(Lease(record.id, str(uuid.uuid4()), lease.attempt), SUCCESS)
    assert _get(store, record.id) == before


def test_finish_with_a_stale_lease_after_requeue_returns_false(store: TaskStore) -> None:
    record, stale = _claimed(store)
    store.requeue_orphans("worker lost")
    store.claim(record.id, "w2")
    assert store.finish(stale, SUCCESS) is False


def test_finish_with_a_stale_lease_keeps_the_new_attempt_running(store: TaskStore) -> None:
    record, stale = _claimed(store)
    store.requeue_orphans("worker lost")
    store.claim(record.id, "w2")
    store.finish(stale, SUCCESS)
    row = _get(store, record.id)
    assert (row.status, row.attempt, row.worker) == (S.STARTED, 2, "w2")


def test_finish_after_finish_returns_false(store: TaskStore) -> None:
    _, lease = _claimed(store)
    store.finish(lease, SUCCESS)
    assert store.finish(lease, FAILURE) is False


def test_finished_row_never_changes(store: TaskStore) -> None:
    record, lease = _claimed(store)
    store.finish(lease, SUCCESS)
    before = _get(store, record.id)
    store.finish(lease, FAILURE)
    store.claim(record.id, "w2")
    store.requeue_orphans("restart")
    store.reject(
        NewTask(name="echo_bot.echo", queue="celery", id=record.id), ErrorClass.UNKNOWN_TASK, "x"
    )
    assert _get(store, record.id) == before


def test_finish_of_a_missing_row_returns_false(store: TaskStore) -> None:
    assert store.finish(Lease(str(uuid.uuid4()), str(uuid.uuid4()), 1), SUCCESS) is False


# -- adopting, rejecting, requeueing ----------------------------------------------------------


def test_adopt_inserts_a_queued_row_for_an_unknown_id(store: TaskStore) -> None:
    task = _new(text="adopted")
    store.adopt(task, message="from a plain Celery client")
    row = _get(store, task.id)
    assert row.status is S.QUEUED
    [queued] = store.events(task.id)
    assert (queued.type, queued.created_at) == ("queued", row.created_at)


def test_adopt_returns_true_the_first_time(store: TaskStore) -> None:
    assert store.adopt(_new(), message="first") is True


def test_adopt_returns_false_the_second_time(store: TaskStore) -> None:
    task = _new()
    store.adopt(task, message="first")
    assert store.adopt(task, message="second") is False


def test_adopt_of_an_existing_row_changes_nothing(store: TaskStore) -> None:
    record, _ = _claimed(store)
    before = (_get(store, record.id), _events(store, record.id))
    store.adopt(NewTask(name="echo_bot.echo", queue="celery", id=record.id), message="dup")
    assert (_get(store, record.id), _events(store, record.id)) == before


def test_reject_of_an_unknown_id_inserts_a_failed_row(store: TaskStore) -> None:
    task = _new("nope.task")
    store.reject(task, ErrorClass.UNKNOWN_TASK, "unknown task 'nope.task'")
    row = _get(store, task.id)
    assert (row.status, row.error_class) == (S.FAILURE, "unknown_task")


def test_reject_of_a_queued_row_fails_it(store: TaskStore) -> None:
    record = _one(store)
    store.reject(
        NewTask(name=record.name, queue="celery", id=record.id), ErrorClass.MALFORMED_MESSAGE, "x"
    )
    assert _get(store, record.id).status is S.FAILURE


def test_reject_of_a_started_row_returns_false(store: TaskStore) -> None:
    record, _ = _claimed(store)
    task = NewTask(name=record.name, queue="celery", id=record.id)
    assert store.reject(task, ErrorClass.UNKNOWN_TASK, "duplicate") is False


def test_requeue_orphans_moves_started_to_queued(store: TaskStore) -> None:
    record, _ = _claimed(store)
    store.requeue_orphans("worker lost")
    assert _get(store, record.id).status is S.QUEUED


def test_requeue_orphans_returns_the_requeued_ids(store: TaskStore) -> None:
    started, _ = _claimed(store)
    _one(store)  # queued: not an orphan
    assert store.requeue_orphans("worker lost") == [started.id]


def test_requeue_orphans_records_a_requeued_event(store: TaskStore) -> None:
    record, _ = _claimed(store)
    store.requeue_orphans("worker lost")
    assert _events(store, record.id)[-1] == ("rescued", "started", "queued", 1)


def test_requeued_task_can_be_claimed_again_as_attempt_two(store: TaskStore) -> None:
    record, _ = _claimed(store)
    store.requeue_orphans("worker lost")
    lease = store.claim(record.id, "w2")
    assert lease is not None and lease.attempt == 2


def test_every_status_change_event_is_a_legal_transition(store: TaskStore) -> None:
    """Events that change status (to_status set) must follow the transition table."""
    ok, ok_lease = _claimed(store)
    store.finish(ok_lease, SUCCESS)
    bad, bad_lease = _claimed(store)
    store.finish(bad_lease, FAILURE)
    retried, stale = _claimed(store)
    store.requeue_orphans("worker lost")
    again = store.claim(retried.id, "w2")
    assert again is not None
    store.finish(stale, SUCCESS)  # fenced
    store.finish(again, SUCCESS)
    unknown = _new("nope.task")
    store.reject(unknown, ErrorClass.UNKNOWN_TASK, "unknown")
    queued = _one(store)
    store.reject(NewTask(name="x", queue="celery", id=queued.id), ErrorClass.UNKNOWN_TASK, "x")
    adopted = _new()
    store.adopt(adopted, message="adopted")
    ids = [ok.id, bad.id, retried.id, unknown.id, queued.id, adopted.id]
    moves = [
        (e.type, e.from_status, e.to_status)
        for task_id in ids
        for e in store.events(task_id)
        if e.to_status is not None
    ]
    illegal = [
        (kind, before, after)
        for kind, before, after in moves
        if after is None or not is_legal(S(before) if before else None, S(after))
    ]
    assert illegal == []


# -- listing ----------------------------------------------------------------------------------


def _all_pages(store: TaskStore, flt: TaskFilter, limit: int) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        page = store.list_tasks(flt, limit=limit, cursor=cursor)
        pages.append([r.id for r in page.items])
        cursor = page.next_cursor
        if cursor is None or len(pages) > 20:
            return pages


def test_list_is_newest_first(store: TaskStore) -> None:
    ids = [_one(store).id for _ in range(4)]
    assert [r.id for r in store.list_tasks(TaskFilter(), limit=10).items] == ids[::-1]


def test_list_pages_see_every_task_once(store: TaskStore) -> None:
    ids = [_one(store).id for _ in range(5)]
    seen = [i for page in _all_pages(store, TaskFilter(), limit=2) for i in page]
    assert Counter(seen) == Counter(ids)


def test_list_pages_follow_newest_first_order(store: TaskStore) -> None:
    ids = [_one(store).id for _ in range(5)]
    assert _all_pages(store, TaskFilter(), limit=2) == [ids[4:2:-1], ids[2:0:-1], ids[:1]]


def test_list_pages_see_every_task_once_when_created_together(store: TaskStore) -> None:
    """One transaction gives every row the same created_at: the id breaks the tie."""
    ids = [r.id for r in store.create([_new(n=i) for i in range(5)])]
    seen = [i for page in _all_pages(store, TaskFilter(), limit=2) for i in page]
    assert Counter(seen) == Counter(ids)


def test_list_last_page_has_no_cursor(store: TaskStore) -> None:
    for _ in range(4):
        _one(store)
    first = store.list_tasks(TaskFilter(), limit=2)
    assert first.next_cursor is not None
    last = store.list_tasks(TaskFilter(), limit=2, cursor=first.next_cursor)
    assert last.next_cursor is None


def test_list_filters_by_status(store: TaskStore) -> None:
    started, _ = _claimed(store)
    _one(store)
    items = store.list_tasks(TaskFilter(statuses=(S.STARTED,)), limit=10).items
    assert [r.id for r in items] == [started.id]


def test_list_filters_by_several_statuses(store: TaskStore) -> None:
    started, _ = _claimed(store)
    done, lease = _claimed(store)
    store.finish(lease, SUCCESS)
    _one(store)
    flt = TaskFilter(statuses=(S.STARTED, S.SUCCESS))
    assert {r.id for r in store.list_tasks(flt, limit=10).items} == {started.id, done.id}


@pytest.mark.parametrize(
    ("statuses", "index"),
    [
        ((S.QUEUED,), "ix_tasks_unfinished"),
        ((S.STARTED, S.RETRYING), "ix_tasks_unfinished"),
        ((S.DEAD,), "ix_tasks_unsuccessful"),
        ((S.FAILURE, S.CANCELLED), "ix_tasks_unsuccessful"),
    ],
)
def test_a_listing_by_status_reads_its_partial_index(
    store: TaskStore, statuses: tuple[TaskStatus, ...], index: str
) -> None:
    """A listing of dead tasks must not walk every success: the query states the partial
    index's predicate, so the planner can use it (table scans off to ask it)."""
    captured: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, sql: str, params: Any, context: Any, many: bool) -> None:
        if sql.lstrip().upper().startswith("SELECT"):
            captured.append((sql, params))

    engine = store.db.engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        store.list_tasks(TaskFilter(statuses=statuses), limit=10)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    sql, params = captured[-1]
    with store.db.read() as conn:
        if store.db.is_sqlite:
            plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params).all()
        else:
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            plan = conn.exec_driver_sql(f"EXPLAIN {sql}", params).all()
    assert index in " ".join(str(cell) for row in plan for cell in row)


def test_list_filters_by_name(store: TaskStore) -> None:
    wanted = _one(store, "core.noop")
    _one(store, "echo_bot.echo")
    items = store.list_tasks(TaskFilter(name="core.noop"), limit=10).items
    assert [r.id for r in items] == [wanted.id]


def test_list_filters_by_created_since(store: TaskStore) -> None:
    _one(store)
    middle = _one(store)
    newest = _one(store)
    items = store.list_tasks(TaskFilter(created_since=middle.created_at), limit=10).items
    assert [r.id for r in items] == [newest.id, middle.id]


def test_list_filters_by_created_until(store: TaskStore) -> None:
    oldest = _one(store)
    middle = _one(store)
    _one(store)
    items = store.list_tasks(TaskFilter(created_until=middle.created_at), limit=10).items
    assert [r.id for r in items] == [oldest.id]


def test_list_with_a_garbage_cursor_raises_invalid_input(store: TaskStore) -> None:
    with pytest.raises(InvalidInput):
        store.list_tasks(TaskFilter(), limit=2, cursor="not-a-cursor")


def test_list_with_a_naive_timestamp_cursor_raises_invalid_input(store: TaskStore) -> None:
    cursor = base64.urlsafe_b64encode(b"2024-01-01T00:00:00|abc").decode()
    with pytest.raises(InvalidInput):
        store.list_tasks(TaskFilter(), limit=2, cursor=cursor)


# -- the relay's view -------------------------------------------------------------------------


def _unpublished(store: TaskStore, older_than: timedelta = timedelta(0)) -> set[str]:
    return {r.id for r in store.unpublished(older_than=older_than, limit=100)}


def test_unpublished_returns_queued_rows_past_the_grace(store: TaskStore) -> None:
    ids = {_one(store).id for _ in range(2)}
    assert _unpublished(store) == ids


def test_unpublished_skips_rows_younger_than_the_grace(store: TaskStore) -> None:
    _one(store)
    assert _unpublished(store, timedelta(hours=1)) == set()


def test_unpublished_skips_published_rows(store: TaskStore) -> None:
    published, waiting = _one(store), _one(store)
    store.mark_published([published.id])
    assert _unpublished(store) == {waiting.id}


def test_unpublished_skips_rows_past_queued(store: TaskStore) -> None:
    _claimed(store)
    waiting = _one(store)
    assert _unpublished(store) == {waiting.id}


def test_unpublished_includes_requeued_orphans(store: TaskStore) -> None:
    record, _ = _claimed(store)
    store.mark_published([record.id])
    store.requeue_orphans("worker lost")
    assert _unpublished(store) == {record.id}


def test_unclaimed_returns_queued_rows_published_that_long_ago(store: TaskStore) -> None:
    lost, recent, never = _one(store), _one(store), _one(store)
    claimed, _ = _claimed(store)
    publish_long_ago(store, [lost.id, claimed.id])
    store.mark_published([recent.id])
    assert [r.id for r in store.unclaimed(published_before=timedelta(minutes=5), limit=10)] == [
        lost.id
    ]
    assert never.id not in {r.id for r in store.unclaimed(published_before=timedelta(0), limit=9)}


# -- concurrency ------------------------------------------------------------------------------


def test_concurrent_claims_take_each_task_exactly_once(db: Database) -> None:
    store = TaskStore(db)
    ids = [r.id for r in store.create([_new(n=i) for i in range(20)])]
    barrier = threading.Barrier(8)
    leases: list[Lease] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        try:
            barrier.wait()
            for task_id in ids:
                lease = store.claim(task_id, f"w{n}")
                if lease is not None:
                    with lock:
                        leases.append(lease)
        except BaseException as exc:
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    claims = Counter(lease.task_id for lease in leases)
    assert (errors, claims) == ([], Counter(dict.fromkeys(ids, 1)))


# -- what the service accepts, the record must hold -----------------------------------------


def _service(store: TaskStore) -> TaskService:
    registry = Registry()
    echo_bot.register_tasks(registry)
    return TaskService(store, registry, None, Settings())


def _submitted_kwargs(store: TaskStore, kwargs: dict[str, Any]) -> object:
    """The kwargs stored for an accepted submit, or "refused" for an InvalidInput."""
    try:
        record = _service(store).submit(SubmitRequest("echo_bot.echo", kwargs))
    except InvalidInput:
        return "refused"
    return _get(store, record.id).kwargs


def test_submit_with_a_nul_character_is_stored_or_refused(
    store: TaskStore, clean_env: Path, request: pytest.FixtureRequest
) -> None:
    assert _submitted_kwargs(store, {"text": "a\x00b"}) in ("refused", {"text": "a\x00b"})


def test_submit_with_nan_is_stored_as_json_or_refused(store: TaskStore, clean_env: Path) -> None:
    assert _submitted_kwargs(store, {"text": float("nan")}) in ("refused", {"text": None})
