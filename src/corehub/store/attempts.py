"""Attempt leases over time: heartbeats keep them, rescue ends the ones whose worker is gone.

A rescued attempt goes back to queued while attempts remain, else the task is dead; either
way its lease token is cleared, so the old attempt's finish loses its compare-and-set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, false, select, true, update

from corehub.store.database import Database
from corehub.store.events import append_events, event_row
from corehub.store.leadership import Fence, fenced_by
from corehub.store.models import STARTED_ROWS, TASK_COLUMNS, WAITING_ROWS, status_is
from corehub.store.models import tasks_table as t
from corehub.store.records import TaskRecord
from corehub.store.states import ErrorClass, TaskStatus

S = TaskStatus


@dataclass(frozen=True, slots=True)
class Rescue:
    requeued: list[str] = field(default_factory=list)
    dead: list[str] = field(default_factory=list)


class AttemptLeases:
    def __init__(self, db: Database) -> None:
        self.db = db

    def beat(self, tokens: Sequence[str]) -> int:
        """Extend every live lease of this process in one statement."""
        if not tokens:
            return 0
        # Locked in id order, skipping a row another transaction holds (its finish, most
        # likely): in a threads pool a beat that waited for a row while holding another
        # could close a cycle with finishes written together, which lock in id order too.
        # A lease skipped is beaten at the next interval.
        held = (
            select(t.c.id)
            .where(t.c.lease_token.in_(bindparam("tokens", expanding=True)), STARTED_ROWS)
            .order_by(t.c.id)
            .with_for_update(skip_locked=True, key_share=True)
        )
        stmt = (
            update(t)
            .where(t.c.id.in_(held.scalar_subquery()))
            .values(heartbeat_at=bindparam("now") if self.db.is_sqlite else self.db.now())
        )
        with self.db.write() as conn:
            return conn.execute(stmt, {"tokens": list(tokens), "now": self.db.now()}).rowcount

    def any_due(self, *, gated: bool) -> bool:
        """Whether a task waiting in SQL is due: a delayed task or a retry (for
        `release_due`), or with `gated` one waiting for admission. One read through the
        waiting rows' index, so that an idle scheduler tick skips the write transactions
        that would find nothing (they were most of its cost)."""
        stmt = (
            select(t.c.id)
            .where(WAITING_ROWS, t.c.gated == (true() if gated else false()))
            .where(t.c.run_at <= self.db.now())
            .limit(1)
        )
        with self.db.read() as conn:
            return conn.execute(stmt).first() is not None

    def release_due(self, *, fence: Fence | None, limit: int = 1000) -> list[TaskRecord]:
        """Tasks waiting in SQL whose time has come (a delayed task's `run_at`, a retry's
        backoff) become queued and unpublished; returns them, for the leader to publish.

        Never early: `run_at` is compared with the database clock. Gated tasks wait for
        their admission instead.
        """
        now = self.db.now()
        released: list[TaskRecord] = []
        with self.db.write() as conn:
            for source, message in ((S.SCHEDULED, "due"), (S.RETRYING, "backoff elapsed")):
                waiting = (WAITING_ROWS, status_is(source), t.c.gated == false(), t.c.run_at <= now)
                due = (
                    select(t.c.id).where(*waiting).order_by(t.c.run_at).limit(limit)
                ).scalar_subquery()
                rows = conn.execute(
                    update(t)
                    .where(t.c.id.in_(due), *waiting, fenced_by(self.db, fence))
                    .values(status=S.QUEUED, run_at=None, published_at=None, updated_at=now)
                    .returning(*TASK_COLUMNS)
                ).all()
                append_events(
                    conn,
                    now,
                    [event_row(r.id, "queued", source, S.QUEUED, r.attempt, message) for r in rows],
                )
                released += [TaskRecord.from_row(r) for r in rows]
        return released

    def rescue_stale(
        self, *, timeout: timedelta, fence: Fence | None, reason: str, limit: int = 500
    ) -> Rescue:
        """End attempts whose last heartbeat is older than `timeout` (all started ones when
        `timeout` is zero), as the holder of `fence`."""
        now = self.db.now()
        is_stale = (STARTED_ROWS, t.c.heartbeat_at <= now - timeout)
        stale = select(t.c.id).where(*is_stale).limit(limit).scalar_subquery()
        # Stated again outside the subquery: a row finished or beaten while this waited for
        # it is checked anew in its new version, which the subquery's ids alone would pass.
        base = update(t).where(t.c.id.in_(stale), *is_stale, fenced_by(self.db, fence))
        with self.db.write() as conn:
            requeued = conn.execute(
                base.where(t.c.attempt < t.c.max_attempts)
                .values(
                    status=S.QUEUED,
                    lease_token=None,
                    worker=None,
                    published_at=None,
                    updated_at=now,
                )
                .returning(t.c.id, t.c.attempt)
            ).all()
            dead = conn.execute(
                base.where(t.c.attempt >= t.c.max_attempts)
                .values(
                    status=S.DEAD,
                    lease_token=None,
                    finished_at=now,
                    updated_at=now,
                    error_class=ErrorClass.WORKER_LOST,
                    error_type="WorkerLost",
                    error_message=f"{reason}; no attempts remain",
                )
                .returning(t.c.id, t.c.attempt)
            ).all()
            _events(conn, now, requeued, "rescued", S.QUEUED, reason)
            _events(conn, now, dead, "dead", S.DEAD, f"{reason}; no attempts remain")
        return Rescue([r.id for r in requeued], [r.id for r in dead])


def _events(
    conn: Connection, now: Any, rows: Sequence[Any], type_: str, to: TaskStatus, message: str
) -> None:
    lost = {"error_class": ErrorClass.WORKER_LOST.value}
    append_events(
        conn, now, [event_row(r.id, type_, S.STARTED, to, r.attempt, message, lost) for r in rows]
    )
