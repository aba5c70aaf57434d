"""The hot path's two transitions, claim and finish, built once per dialect.

Each is one compare-and-set plus its event. On PostgreSQL that is a single statement (a
data-modifying CTE, autocommit): one round trip per transition. SQLite has no such CTE, so
there it is the same pair in one short transaction. Statements are constructed once and only
their parameters change, which keeps SQLAlchemy's per-call work to a cache lookup.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Select, bindparam, func, insert, literal, select, update
from sqlalchemy.sql.dml import Update

from corehub.store.database import Database
from corehub.store.models import events_table as ev
from corehub.store.models import tasks_table as t
from corehub.store.records import Lease, Outcome
from corehub.store.states import TaskStatus

S = TaskStatus
EVENT_COLUMNS = ["task_id", "type", "from_status", "to_status", "attempt", "created_at"]


class Transitions:
    def __init__(self, db: Database) -> None:
        self.db = db
        now: Any = bindparam("p_now") if db.is_sqlite else func.statement_timestamp()
        self._claim = (
            update(t)
            .where(t.c.id == bindparam("p_id"), t.c.status == S.QUEUED)
            .values(
                status=S.STARTED,
                attempt=t.c.attempt + 1,
                lease_token=bindparam("p_token"),
                worker=bindparam("p_worker"),
                started_at=now,
                heartbeat_at=now,
                updated_at=now,
            )
            .returning(t.c.id, t.c.attempt, t.c.updated_at)
        )
        self._finish = (
            update(t)
            .where(
                t.c.id == bindparam("p_id"),
                t.c.status == S.STARTED,
                t.c.lease_token == bindparam("p_token"),
            )
            .values(
                status=bindparam("p_status"),
                lease_token=None,
                finished_at=now,
                updated_at=now,
                result=bindparam("p_result", type_=t.c.result.type),
                error_class=bindparam("p_error_class"),
                error_type=bindparam("p_error_type"),
                error_message=bindparam("p_error_message"),
                error_traceback=bindparam("p_error_traceback"),
            )
            .returning(t.c.id, t.c.attempt, t.c.updated_at)
        )
        self._event = insert(ev)
        if not db.is_sqlite:
            self._claim_with_event = _with_event(
                self._claim, literal("started"), literal(S.QUEUED.value)
            )
            self._finish_with_event = _with_event(
                self._finish, bindparam("p_status"), literal(S.STARTED.value)
            )

    def claim(self, task_id: str, token: str, worker: str) -> int | None:
        """queued → started; returns the attempt number, or None if the task was not queued."""
        params: dict[str, Any] = {"p_id": task_id, "p_token": token, "p_worker": worker}
        if not self.db.is_sqlite:
            with self.db.autocommit() as conn:
                row = conn.execute(self._claim_with_event, params).first()
            return None if row is None else int(row.attempt)
        with self.db.write() as conn:
            params["p_now"] = self.db.now()
            row = conn.execute(self._claim, params).first()
            if row is None:
                return None
            self._append(conn, row, "started", S.QUEUED, S.STARTED, None)
        return int(row.attempt)

    def finish(self, lease: Lease, outcome: Outcome) -> bool:
        """started → success|failure for the lease holder; False if the lease was lost."""
        params = {
            "p_id": lease.task_id,
            "p_token": lease.token,
            "p_status": outcome.status.value,
            "p_result": outcome.result,
            "p_error_class": outcome.error_class,
            "p_error_type": outcome.error_type,
            "p_error_message": outcome.error_message,
            "p_error_traceback": outcome.error_traceback,
        }
        if not self.db.is_sqlite:
            with self.db.autocommit() as conn:
                return conn.execute(self._finish_with_event, params).first() is not None
        with self.db.write() as conn:
            params["p_now"] = self.db.now()
            row = conn.execute(self._finish, params).first()
            if row is None:
                return False
            self._append(
                conn, row, outcome.status.value, S.STARTED, outcome.status, outcome.error_message
            )
        return True

    def _append(
        self,
        conn: Connection,
        row: Any,
        type_: str,
        from_status: TaskStatus,
        to_status: TaskStatus,
        message: str | None,
    ) -> None:
        conn.execute(
            self._event,
            {
                "task_id": row.id,
                "type": type_,
                "from_status": from_status,
                "to_status": to_status,
                "attempt": row.attempt,
                "message": message,
                "created_at": row.updated_at,
            },
        )


def _with_event(cas: Update, type_: Any, from_status: Any) -> Any:
    """`WITH changed AS (UPDATE … RETURNING) INSERT INTO task_events SELECT … FROM changed`."""
    changed = cas.cte("changed")
    rows: Select[Any] = select(
        changed.c.id, type_, from_status, type_, changed.c.attempt, changed.c.updated_at
    )
    return insert(ev).from_select(EVENT_COLUMNS, rows).returning(ev.c.attempt)
