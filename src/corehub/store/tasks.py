"""Every write to a task: one compare-and-set plus its event, in one transaction.

A transition that finds the row in another state changes nothing and says so (returns
None/False), which is how duplicate deliveries, zombies and races lose quietly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    case,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from corehub.errors import Conflict
from corehub.ids import random_uuid
from corehub.store.attempts import AttemptLeases
from corehub.store.database import Database
from corehub.store.events import append_events, event_row
from corehub.store.leadership import Fence, fenced_by
from corehub.store.marks import PublishMarks
from corehub.store.models import (
    TASK_COLUMNS,
    UNFINISHED,
    UNFINISHED_ROWS,
    UNPUBLISHED_ROWS,
    UNSUCCESSFUL,
    UNSUCCESSFUL_ROWS,
    Base,
    status_is,
)
from corehub.store.models import events_table as ev
from corehub.store.models import tasks_table as t
from corehub.store.paging import after_cursor, page_of
from corehub.store.records import (
    EventRecord,
    Lease,
    NewTask,
    Outcome,
    Page,
    TaskFilter,
    TaskRecord,
)
from corehub.store.sql import clock_value, driver_insert, insert_if_absent
from corehub.store.states import TERMINAL, ErrorClass, TaskStatus
from corehub.store.transitions import Transitions

S = TaskStatus


class TaskStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.transitions = Transitions(db)
        self.attempts = AttemptLeases(db)
        # A mark is a hint (`corehub.store.marks`), so it never waits for a row another
        # transaction holds: a worker's claim can hold the task it finishes as well, and a
        # mark holding one of the two while waiting for the other closed a cycle PostgreSQL
        # broke only after its deadlock_timeout, by failing the claim. A row skipped is
        # being claimed (it needs no mark) or changed; left queued, at worst it is published
        # again after the relay's grace.
        free = (
            select(t.c.id)
            .where(t.c.id.in_(bindparam("ids", expanding=True)), status_is(S.QUEUED))
            .with_for_update(skip_locked=True, key_share=True)  # what an UPDATE takes
        )
        self._mark_published = (
            update(t)
            .where(t.c.id.in_(free.scalar_subquery()))
            .values(published_at=bindparam("now") if db.is_sqlite else func.statement_timestamp())
        )
        self.marks = PublishMarks(self.mark_published)

    # -- accepting -------------------------------------------------------------------------

    def create(
        self, tasks: Sequence[NewTask], *, message: str | None = None, published: bool = False
    ) -> list[TaskRecord]:
        """Insert rows and their first events in one transaction (accept = commit).

        `published`: the caller publishes the queued ones as soon as this commits, so they
        are stored marked, which spares each a second row version (the mark's UPDATE, which
        touched every index of the table). The caller unmarks what it fails to hand over
        (`unmark_published`); should it die first, the relay's redelivery check republishes
        them after `scheduler.redelivery_seconds`.
        """
        if not tasks:
            return []
        try:
            with self.db.write() as conn:
                return insert_tasks(conn, self.db.now(), tasks, message, published=published)
        except IntegrityError as exc:
            raise Conflict("a task with this id or idempotency key already exists") from exc

    def adopt(self, task: NewTask, *, message: str) -> bool:
        """Insert a row for a message that arrived without one (a plain Celery client).

        Returns False when the row already exists: the message then was ours or a duplicate.
        """
        row = _row(task, S.QUEUED, self.db.now())
        with self.db.write() as conn:
            stmt = _insert_if_absent(self.db.dialect, row).returning(t.c.created_at)
            created = conn.execute(stmt).first()
            if created is None:
                return False
            # Stamped with the row's own time: no second read of the clock on PostgreSQL.
            event = event_row(task.id, "queued", None, S.QUEUED, 0, message)
            append_events(conn, created.created_at, [event])
        return True

    def mark_published(self, task_ids: Iterable[str], fence: Fence | None = None) -> int:
        """Record that tasks still queued reached the broker (as the holder of `fence`, for
        the relay); `marks.add` is the same, deferred and batched, for request paths.
        Returns how many were marked: none when `fence` is no longer the live lease."""
        ids = list(task_ids)
        if not ids:
            return 0
        stmt = (
            self._mark_published
            if fence is None
            else (self._mark_published.where(fenced_by(self.db, fence)))
        )
        with self.db.write() as conn:
            marked: int = conn.execute(stmt, {"ids": ids, "now": self.db.now()}).rowcount
        return marked

    def unmark_published(self, task_ids: Iterable[str]) -> None:
        """Tasks stored marked (`create(published=True)`) that did not reach the broker: the
        relay's next look takes them."""
        ids = list(task_ids)
        if not ids:
            return
        with self.db.write() as conn:
            conn.execute(
                update(t).where(t.c.id.in_(ids), status_is(S.QUEUED)).values(published_at=None)
            )

    # -- running ---------------------------------------------------------------------------

    def claim(self, task_id: str, worker: str) -> Lease | None:
        """queued → started: takes a fresh lease and counts the attempt before the body runs."""
        return self.transitions.claim(task_id, random_uuid(), worker)

    def finish(self, lease: Lease, outcome: Outcome) -> bool:
        """started → success|failure|retrying|dead, only for the holder of the lease.

        A holder that lost its lease (rescued, cancelled) changes nothing; the event log
        records that its outcome was dropped.
        """
        if self.transitions.finish(lease, outcome):
            return True
        self.record_lost_lease(lease)
        return False

    def record_lost_lease(self, lease: Lease) -> None:
        """Log that an attempt's outcome was dropped (its task is gone or moved on)."""
        with self.db.write() as conn:
            if conn.execute(select(t.c.id).where(t.c.id == lease.task_id)).first() is None:
                return
            append_events(
                conn,
                self.db.now(),
                [
                    event_row(
                        lease.task_id,
                        "fenced",
                        None,
                        None,
                        lease.attempt,
                        "the attempt lost its lease; its outcome was dropped",
                    )
                ],
            )

    def cancel(self, task_id: str, reason: str) -> TaskStatus | None:
        """Any unfinished task → cancelled, in one compare-and-set per possible state; returns
        the state it was cancelled from, or None when it had already finished (or is gone).

        A pending task then never starts (its claim fails); a running attempt loses its lease,
        so its outcome is dropped. Racing a finish, exactly one of the two wins.
        """
        with self.db.write() as conn:
            return cancel_in(conn, self.db.now(), task_id, reason)

    def time_out(self, task_id: str, limit: float) -> TaskStatus | None:
        """A hard time limit killed the running attempt: retry while attempts remain, else
        dead; class `timeout`. Returns the new state, or None if the task was not running."""
        now = self.db.now()
        message = f"hard time limit of {limit:g}s exceeded"
        with self.db.write() as conn:
            row = conn.execute(
                update(t)
                .where(t.c.id == task_id, t.c.status == S.STARTED)
                .values(
                    status=case(
                        (t.c.attempt < t.c.max_attempts, S.RETRYING.value), else_=S.DEAD.value
                    ),
                    lease_token=None,
                    run_at=now,
                    updated_at=now,
                    error_class=ErrorClass.TIMEOUT,
                    error_type="TimeLimitExceeded",
                    error_message=message,
                )
                .returning(t.c.status, t.c.attempt)
            ).first()
            if row is None:
                return None
            status = TaskStatus(row.status)
            append_events(
                conn,
                now,
                [event_row(task_id, status.value, S.STARTED, status, row.attempt, message)],
            )
        return status

    def reject(self, task: NewTask, error_class: ErrorClass, message: str) -> bool:
        """Fail a task that can never run here (unknown name, undecodable message).

        Inserts a failed row if there is none, else fails a still-queued one; returns False if
        the task was already past queued (the message was a duplicate).
        """
        now = self.db.now()
        failure = {
            "status": S.FAILURE,
            "finished_at": now,
            "updated_at": now,
            "error_class": error_class,
            "error_type": error_class,
            "error_message": message,
        }
        with self.db.write() as conn:
            stmt = _insert_if_absent(self.db.dialect, {**_row(task, S.FAILURE, now), **failure})
            if conn.execute(stmt.returning(t.c.id)).first() is not None:
                append_events(
                    conn, now, [event_row(task.id, "failure", None, S.FAILURE, 0, message)]
                )
                return True
            row = conn.execute(
                update(t)
                .where(t.c.id == task.id, t.c.status == S.QUEUED)
                .values(**failure)
                .returning(t.c.attempt)
            ).first()
            if row is None:
                return False
            append_events(
                conn,
                now,
                [event_row(task.id, "failure", S.QUEUED, S.FAILURE, row.attempt, message)],
            )
        return True

    def requeue_orphans(self, reason: str) -> list[str]:
        """Rescue every started attempt now: their worker is known gone (the embedded hub
        restarted). Returns the ids put back in the queue."""
        requeued: list[str] = []
        while True:
            rescue = self.attempts.rescue_stale(timeout=timedelta(0), fence=None, reason=reason)
            requeued += rescue.requeued
            if not rescue.requeued and not rescue.dead:
                return requeued

    def forget_publications(self) -> int:
        """Mark every queued task unpublished: an in-process broker lost them all on restart."""
        with self.db.write() as conn:
            result = conn.execute(
                update(t)
                .where(t.c.status == S.QUEUED, t.c.published_at.is_not(None))
                .values(published_at=None)
            )
        return result.rowcount

    # -- reading ---------------------------------------------------------------------------

    def find_by_idempotency_key(self, owner: str | None, key: str) -> TaskRecord | None:
        stmt = select(*TASK_COLUMNS).where(
            func.coalesce(t.c.owner, "") == (owner or ""), t.c.idempotency_key == key
        )
        with self.db.read() as conn:
            row = conn.execute(stmt).first()
        return TaskRecord.from_row(row) if row else None

    def get(self, task_id: str) -> TaskRecord | None:
        with self.db.read() as conn:
            row = conn.execute(select(*TASK_COLUMNS).where(t.c.id == task_id)).first()
        return TaskRecord.from_row(row) if row else None

    def list_tasks(self, flt: TaskFilter, *, limit: int, cursor: str | None = None) -> Page:
        """Newest first, keyset-paginated on (created_at, id)."""
        stmt = select(*TASK_COLUMNS)
        if flt.statuses:
            stmt = stmt.where(t.c.status.in_(list(flt.statuses)), *_listing_index(flt.statuses))
        if flt.name:
            stmt = stmt.where(t.c.name == flt.name)
        if flt.created_since:
            stmt = stmt.where(t.c.created_at >= flt.created_since)
        if flt.created_until:
            stmt = stmt.where(t.c.created_at < flt.created_until)
        with self.db.read() as conn:
            rows = conn.execute(after_cursor(stmt, t, cursor).limit(limit + 1)).all()
        items, next_cursor = page_of(rows, limit, TaskRecord.from_row)
        return Page(items, next_cursor)

    def events(self, task_id: str, *, after: int = 0, limit: int = 1000) -> list[EventRecord]:
        stmt = (
            select(ev)
            .where(ev.c.task_id == task_id, ev.c.id > after)
            .order_by(ev.c.id)
            .limit(limit)
        )
        with self.db.read() as conn:
            return [EventRecord.from_row(r) for r in conn.execute(stmt)]

    def unpublished(self, *, older_than: timedelta, limit: int) -> list[TaskRecord]:
        """The relay's work, oldest first: queued tasks that never reached the broker. Read
        through the partial index that holds only them, so a tick costs what it finds."""
        return self._oldest(
            and_(UNPUBLISHED_ROWS, t.c.created_at <= self._cutoff(older_than)), limit
        )

    def unclaimed(self, *, published_before: timedelta, limit: int) -> list[TaskRecord]:
        """Queued tasks published that long ago and still unclaimed, oldest first: a broker
        that lost its messages will never deliver them. No index holds just these, so this
        walks the unfinished rows; the relay asks rarely (`Relay`)."""
        return self._oldest(
            and_(status_is(S.QUEUED), t.c.published_at <= self._cutoff(published_before)), limit
        )

    def _oldest(self, where: Any, limit: int) -> list[TaskRecord]:
        stmt = select(*TASK_COLUMNS).where(where).order_by(t.c.created_at).limit(limit)
        with self.db.read() as conn:
            return [TaskRecord.from_row(r) for r in conn.execute(stmt)]

    def _cutoff(self, age: timedelta) -> Any:
        return self.db.now() - age  # on PostgreSQL, interval arithmetic in SQL

    def backlog(self) -> tuple[int, datetime | None]:
        """(queued tasks never published, creation time of the oldest queued task)."""
        unpublished = select(func.count()).where(UNPUBLISHED_ROWS)
        oldest = select(func.min(t.c.created_at)).where(UNFINISHED_ROWS, status_is(S.QUEUED))
        with self.db.read() as conn:
            count = int(conn.execute(unpublished).scalar_one())
            first = conn.execute(oldest).scalar_one()
        return count, first  # min() keeps the column type: an aware datetime

    def delete_all(self) -> None:
        """Testing and `db reset` only: every record, leader leases aside."""
        with self.db.write() as conn:
            for table in reversed(Base.metadata.sorted_tables):
                if table.name != "leader_leases":
                    conn.execute(delete(table))


def cancel_in(conn: Connection, now: Any, task_id: str, reason: str) -> TaskStatus | None:
    """`TaskStore.cancel` inside the caller's transaction (a pipeline cancels its steps')."""
    row = conn.execute(select(t.c.status).where(t.c.id == task_id)).first()
    if row is None or TaskStatus(row.status) in TERMINAL:
        return None
    before = TaskStatus(row.status)
    changed = conn.execute(
        update(t)
        .where(t.c.id == task_id, t.c.status == before)
        .values(
            status=S.CANCELLED,
            lease_token=None,
            run_at=None,
            finished_at=now,
            updated_at=now,
            error_class=None,
            error_message=reason,
        )
        .returning(t.c.attempt)
    ).first()
    if changed is None:
        return None
    append_events(
        conn, now, [event_row(task_id, "cancelled", before, S.CANCELLED, changed.attempt, reason)]
    )
    return before


def insert_tasks(
    conn: Connection,
    now: Any,
    tasks: Sequence[NewTask],
    message: str | None = None,
    *,
    published: bool = False,
) -> list[TaskRecord]:
    """Insert task rows and their first events inside the caller's transaction.

    A task due now is `queued`; one with a `run_at` or under flow control is `scheduled`
    (held in SQL until the leader releases it; due at once if it names no time). A task with
    a `parent_id` is a replay: its parent gets a `replayed` event too. The rows are stamped
    with the database's clock read once, and inserted in one driver call: the records are
    built from what was inserted rather than read back. With `published` the queued rows
    are stored marked published (see `TaskStore.create`).
    """
    if not tasks:
        return []
    stamp = clock_value(conn, now)
    rows = [_row(task, S.SCHEDULED if task.waits else S.QUEUED, stamp) for task in tasks]
    for row, task in zip(rows, tasks, strict=True):
        if task.gated and task.run_at is None:
            row["run_at"] = stamp
        row["published_at"] = stamp if published and row["status"] is S.QUEUED else None
    driver_insert(t, tuple(rows[0]), conn.dialect).many(conn, rows)
    first = [
        event_row(
            task.id,
            "scheduled" if task.waits else "queued",
            None,
            S.SCHEDULED if task.waits else S.QUEUED,
            0,
            f"replay of {task.parent_id}" if task.parent_id else message,
        )
        for task in tasks
    ]
    replays = [
        event_row(
            task.parent_id,
            "replayed",
            None,
            None,
            0,
            f"replayed as {task.id}",
            {"replay_id": task.id},
        )
        for task in tasks
        if task.parent_id
    ]
    append_events(conn, stamp, first + replays)
    return [TaskRecord(**{**UNSET_COLUMNS, **row}) for row in rows]


# What a new row holds in the columns `_row` does not fill: nothing yet.
UNSET_COLUMNS: dict[str, Any] = {c.name: None for c in TASK_COLUMNS}


def _listing_index(statuses: Iterable[TaskStatus]) -> list[Any]:
    """The predicate of the partial index holding every row of `statuses`, stated verbatim
    so the planner uses it (none for a listing that includes successes)."""
    wanted = set(statuses)
    for members, rows in ((UNFINISHED, UNFINISHED_ROWS), (UNSUCCESSFUL, UNSUCCESSFUL_ROWS)):
        if wanted <= set(members):
            return [rows]
    return []


def _row(task: NewTask, status: TaskStatus, now: Any = None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": task.id,
        "name": task.name,
        "args": task.args,
        "kwargs": task.kwargs,
        "status": status,
        "queue": task.queue,
        "priority": task.priority,
        "attempt": 0,
        "max_attempts": task.max_attempts,
        "backoff_base": task.backoff_base,
        "backoff_cap": task.backoff_cap,
        "idempotency_key": task.idempotency_key,
        "owner": task.owner,
        "request_hash": task.request_hash,
        "parent_id": task.parent_id,
        "pipeline_run_id": task.pipeline_run_id,
        "step": task.step,
        "soft_time_limit": task.soft_time_limit,
        "time_limit": task.time_limit,
        "run_at": task.run_at,
        "rate_key": task.rate_key,
        "concurrency_key": task.concurrency_key,
        "needs": task.needs,
        "gated": task.gated,
    }
    if now is not None:
        row["created_at"] = row["updated_at"] = now
    return row


def _insert_if_absent(dialect: str, row: dict[str, Any]) -> Any:
    return insert_if_absent(dialect, t, row, "id")
