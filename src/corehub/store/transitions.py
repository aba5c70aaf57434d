"""The hot path's two transitions, claim and finish, built once per dialect.

Each is one compare-and-set plus its event. On PostgreSQL that is a single statement (a
data-modifying CTE, autocommit): one round trip per transition. SQLite has no such CTE, so
there it is the same pair in one short transaction. Statements are compiled once and only
their parameters change.

A pipeline step's claim also starts its step, in the claim's transaction; that belongs to
`corehub.store.pipelines`, which builds on `claim_in` (SQLite) and `claim_ctes` (PostgreSQL).
Every statement is run on the driver (`DriverStatement`), skipping SQLAlchemy's per-call
execution layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Interval,
    Select,
    bindparam,
    func,
    insert,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.sql.dml import Update
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import CTE

from corehub.store.database import Database
from corehub.store.events import EVENT_COLUMNS, event_insert, event_row
from corehub.store.models import events_table as ev
from corehub.store.models import tasks_table as t
from corehub.store.records import Lease, Outcome
from corehub.store.sql import DriverStatement
from corehub.store.states import TaskStatus

S = TaskStatus


# What both transitions hand back: enough for the lease and for the event they append.
RETURNED = (
    t.c.id,
    t.c.attempt,
    t.c.max_attempts,
    t.c.backoff_base,
    t.c.backoff_cap,
    t.c.pipeline_run_id,
    t.c.step,
    t.c.updated_at,
)


class Transitions:
    def __init__(self, db: Database) -> None:
        self.db = db
        sqlite = db.is_sqlite
        now: Any = (
            bindparam("p_now", type_=t.c.updated_at.type) if sqlite else func.statement_timestamp()
        )
        # A retry's due time on the database's clock (SQLite's clock is this host's).
        run_at: Any = (
            bindparam("p_run_at", type_=t.c.run_at.type)
            if sqlite
            else now + bindparam("p_delay", type_=Interval())
        )
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
                run_at=None,
            )
            .returning(*RETURNED)
        )
        self._finish = _finish_cas(now, run_at)
        # The same for a task outside any pipeline: a step's start must go with its claim.
        self._claim_unless_step = self._claim.where(t.c.pipeline_run_id.is_(None))
        # Each transition once, run on the driver: on PostgreSQL one statement that logs its
        # event too; on SQLite the compare-and-set alone, its event a second statement.
        started: tuple[Any, ...] = (literal("started"), literal(S.QUEUED.value), None, None)
        finished = _finished_event()
        self._sqlite = sqlite
        self._claim_stmt = self._dialect_form(self._claim, *started)
        self._claim_unless_step_stmt = self._dialect_form(self._claim_unless_step, *started)
        self._finish_stmt = self._dialect_form(self._finish, *finished)
        self._event_stmt = event_insert(db.engine.dialect)
        if not sqlite:
            self._finish_then_claim = self.driver(
                _finish_then_claim(self._claim_unless_step, now, *started)
            )

    def _dialect_form(self, cas: Update, *event: Any) -> DriverStatement:
        return self.driver(cas if self._sqlite else _with_event(cas, *event))

    def claim(self, task_id: str, token: str, worker: str) -> Lease | None:
        """queued → started; the attempt's lease, or None if the task was not queued."""
        return self._claim_by(self._claim_stmt, task_id, token, worker)

    def claim_unless_step(self, task_id: str, token: str, worker: str) -> Lease | None:
        """`claim` for a task that is no pipeline step (still one statement on PostgreSQL);
        None for a step, whose claim starts the step too (`PipelineStore.claim`)."""
        return self._claim_by(self._claim_unless_step_stmt, task_id, token, worker)

    def _claim_by(
        self, statement: DriverStatement, task_id: str, token: str, worker: str
    ) -> Lease | None:
        if not self._sqlite:
            return self.claim_with(statement, task_id, token, worker)
        with self.db.write() as conn:
            claimed = self._claim_on_sqlite(conn, statement, task_id, token, worker)
        return None if claimed is None else claimed[0]

    def claim_in(
        self, conn: Connection, task_id: str, token: str, worker: str
    ) -> tuple[Lease, datetime] | None:
        """SQLite: `claim` inside the caller's transaction; the lease and the claim's time
        (the attempt's `started_at`), which a pipeline step's start is stamped with too.
        (PostgreSQL folds a step's start into the claim's statement: `claim_ctes`.)"""
        return self._claim_on_sqlite(conn, self._claim_stmt, task_id, token, worker)

    def _claim_on_sqlite(
        self, conn: Connection, statement: DriverStatement, task_id: str, token: str, worker: str
    ) -> tuple[Lease, datetime] | None:
        params = {"p_id": task_id, "p_token": token, "p_worker": worker, "p_now": self.db.now()}
        row = statement.first(conn, params)
        if row is None:
            return None
        self._append(conn, row, "started", S.QUEUED, S.STARTED, None, None)
        return _lease(task_id, token, row), row.updated_at

    def driver(self, statement: Any) -> DriverStatement:
        """`statement` compiled once and run on the driver (see DriverStatement)."""
        return DriverStatement(statement, self.db.engine.dialect)

    def claim_with(
        self, statement: DriverStatement, task_id: str, token: str, worker: str
    ) -> Lease | None:
        """PostgreSQL: run a claim statement (one built on `claim_ctes`, returning the lease's
        columns) in one autocommit round trip."""
        params = {"p_id": task_id, "p_token": token, "p_worker": worker}
        # A claim may skip the WAL flush (`database.async_claim_commit`): the finish's durable
        # commit flushes it, and a claim lost with the server leaves its task queued, to run
        # again when the relay publishes it again (or its unacknowledged message comes back).
        with self.db.autocommit(flushed=False) as conn:
            row = statement.first(conn, params)
        return None if row is None else _lease(task_id, token, row)

    def finish_then_claim(
        self, lease: Lease, outcome: Outcome, task_id: str, token: str, worker: str
    ) -> tuple[bool, Lease | None]:
        """PostgreSQL: one attempt's finish and another task's `claim_unless_step`, in one
        statement (one round trip, one durable commit). Whether the finish held its lease,
        and the claim's lease."""
        params = self._pg_finish_params(lease, outcome, "f_")
        params.update(p_id=task_id, p_token=token, p_worker=worker)
        with self.db.autocommit() as conn:
            row = self._finish_then_claim.first(conn, params)
        claimed = None if row.attempt is None else _lease(task_id, token, row)
        return bool(row.finished), claimed

    def claim_ctes(self, *where: ColumnElement[bool]) -> tuple[CTE, CTE]:
        """PostgreSQL: the claim narrowed by `where`, and its event, as CTEs (`changed`,
        `logged`) for a statement that does more in the same round trip. `changed` returns
        the lease's columns and `updated_at`, the claim's time."""
        changed = self._claim.where(*where).cte("changed")
        return changed, _event_cte(changed, literal("started"), literal(S.QUEUED.value), None, None)

    def finish(self, lease: Lease, outcome: Outcome) -> bool:
        """started → success|failure|retrying|dead for the lease holder; False if it lost it."""
        if self._sqlite:  # concurrent finishes share a commit
            return self.db.grouped(lambda conn: self.finish_in(conn, lease, outcome))
        with self.db.autocommit() as conn:
            return self.finish_in(conn, lease, outcome)

    def finish_many(self, finishes: Sequence[tuple[Lease, Outcome]]) -> list[bool]:
        """`finish` for several attempts, in one transaction and one commit; for each,
        False if it lost its lease."""
        if len(finishes) == 1:
            return [self.finish(*finishes[0])]
        order = sorted(range(len(finishes)), key=lambda i: finishes[i][0].task_id)  # lock order
        done = self.db.grouped(lambda conn: {i: self.finish_in(conn, *finishes[i]) for i in order})
        return [done[i] for i in range(len(finishes))]

    def finish_in(self, conn: Connection, lease: Lease, outcome: Outcome) -> bool:
        """The same transition inside the caller's transaction (a pipeline step's finish
        releases the next steps in that transaction); one statement on PostgreSQL."""
        if not self._sqlite:
            return self._finish_stmt.first(conn, self._pg_finish_params(lease, outcome)) is not None
        params = _finish_params(lease, outcome)
        delay = _delay(outcome)
        now = params["p_now"] = self.db.now()
        params["p_run_at"] = now + delay if delay is not None else None
        row = self._finish_stmt.first(conn, params)
        if row is None:
            return False
        self._append(
            conn,
            row,
            outcome.status.value,
            S.STARTED,
            outcome.status,
            outcome.error_message,
            params["p_data"],
        )
        return True

    @staticmethod
    def _pg_finish_params(lease: Lease, outcome: Outcome, prefix: str = "p_") -> dict[str, Any]:
        params = _finish_params(lease, outcome, prefix)
        params[f"{prefix}delay"] = _delay(outcome)  # the retry's due time counts on the server
        return params

    def _append(
        self,
        conn: Connection,
        row: Any,
        type_: str,
        from_status: TaskStatus,
        to_status: TaskStatus,
        message: str | None,
        data: dict[str, Any] | None,
    ) -> None:
        """SQLite: the transition's event, a statement of its own there."""
        event = event_row(row.id, type_, from_status, to_status, row.attempt, message, data)
        event["created_at"] = row.updated_at
        self._event_stmt.first(conn, event)


def _finish_cas(now: Any, run_at: Any, prefix: str = "p_") -> Update:
    """started → the outcome's status, for the holder of the lease; its parameters are
    named with `prefix` (a statement that also claims binds `p_` for the claim)."""
    return (
        update(t)
        .where(
            t.c.id == bindparam(f"{prefix}id"),
            t.c.status == S.STARTED,
            t.c.lease_token == bindparam(f"{prefix}token"),
        )
        .values(
            status=bindparam(f"{prefix}status"),
            lease_token=None,
            finished_at=now,
            updated_at=now,
            run_at=run_at,
            result=bindparam(f"{prefix}result", type_=t.c.result.type),
            error_class=bindparam(f"{prefix}error_class"),
            error_type=bindparam(f"{prefix}error_type"),
            error_message=bindparam(f"{prefix}error_message"),
            error_traceback=bindparam(f"{prefix}error_traceback"),
        )
        .returning(*RETURNED)
    )


def _finished_event(prefix: str = "p_") -> tuple[Any, Any, Any, Any]:
    """The type, from-status, message and data of a finish's event (`_event_cte`'s)."""
    return (
        bindparam(f"{prefix}status"),
        literal(S.STARTED.value),
        bindparam(f"{prefix}message"),
        bindparam(f"{prefix}data", type_=ev.c.data.type),
    )


def _finish_then_claim(claim: Update, now: Any, *started: Any) -> Any:
    """PostgreSQL: `WITH finished AS (UPDATE …), finish_logged AS (INSERT …), changed AS
    (UPDATE …), logged AS (INSERT …)`, reading how many rows the finish changed and the
    claim's lease (NULLs when nothing was claimed). The two updates touch two tasks; were
    they one (a task claimed again while it runs), the claim would not match: every part of
    the statement sees the same snapshot, in which that task is `started`."""
    delay = bindparam("f_delay", type_=Interval())
    finished = _finish_cas(now, now + delay, "f_").cte("finished")
    finish_logged = _event_cte(finished, *_finished_event("f_"), name="finish_logged")
    changed = claim.cte("changed")
    logged = _event_cte(changed, *started)
    one = select(literal(1).label("one")).subquery("one")
    count = select(func.count()).select_from(finished).scalar_subquery()
    return (
        select(count.label("finished"), *lease_columns(changed))
        .select_from(one.outerjoin(changed, true()))
        .add_cte(finish_logged)
        .add_cte(logged)
    )


def _finish_params(lease: Lease, outcome: Outcome, prefix: str = "p_") -> dict[str, Any]:
    """The finish's parameters, named with `prefix` (`_finish_cas`, `_finished_event`)."""
    return {
        f"{prefix}id": lease.task_id,
        f"{prefix}token": lease.token,
        f"{prefix}status": outcome.status.value,
        f"{prefix}result": outcome.result,
        f"{prefix}error_class": outcome.error_class,
        f"{prefix}error_type": outcome.error_type,
        f"{prefix}error_message": outcome.error_message,
        f"{prefix}error_traceback": outcome.error_traceback,
        f"{prefix}message": outcome.error_message,
        f"{prefix}data": _event_data(outcome),
    }


def _delay(outcome: Outcome) -> timedelta | None:
    return timedelta(seconds=outcome.retry_in) if outcome.retry_in is not None else None


def _event_data(outcome: Outcome) -> dict[str, Any] | None:
    """What an attempt's end tells the log beyond its status: its error class and retry."""
    if outcome.error_class is None:
        return None
    data: dict[str, Any] = {
        "error_class": outcome.error_class.value,
        "error_type": outcome.error_type,
    }
    if outcome.retry_in is not None:
        data["retry_in"] = round(outcome.retry_in, 3)
    return data


def _with_event(cas: Update, type_: Any, from_status: Any, message: Any, data: Any) -> Any:
    """`WITH changed AS (UPDATE … RETURNING), logged AS (INSERT INTO task_events SELECT … FROM
    changed) SELECT … FROM changed`: PostgreSQL runs both writes whatever the query reads."""
    changed = cas.cte("changed")
    logged = _event_cte(changed, type_, from_status, message, data)
    return select(*lease_columns(changed)).add_cte(logged)


def lease_columns(changed: CTE) -> list[Any]:
    """What a claim or finish statement reads back from its `changed` CTE: the lease."""
    return [
        changed.c[name]
        for name in (
            "attempt",
            "max_attempts",
            "backoff_base",
            "backoff_cap",
            "pipeline_run_id",
            "step",
        )
    ]


def _event_cte(
    changed: CTE, type_: Any, from_status: Any, message: Any, data: Any, name: str = "logged"
) -> CTE:
    """The event of each row a transition CTE changed, as an insert CTE."""
    rows: Select[Any] = select(
        changed.c.id,
        type_,
        from_status,
        type_,
        changed.c.attempt,
        message if message is not None else literal(None),
        data if data is not None else literal(None, type_=ev.c.data.type),
        changed.c.updated_at,
    )
    return insert(ev).from_select(EVENT_COLUMNS, rows).cte(name)


def _lease(task_id: str, token: str, row: Any) -> Lease:
    return Lease(
        task_id,
        token,
        int(row.attempt),
        int(row.max_attempts),
        row.backoff_base,
        row.backoff_cap,
        row.pipeline_run_id,
        row.step,
    )
