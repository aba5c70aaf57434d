"""The SQL of a pipeline step's start, end and release, built once per dialect.

As `corehub.store.transitions` does for the claim and the finish, statements are constructed
once and only their parameters change, which keeps SQLAlchemy's per-call work to a cache
lookup. `p_now` is SQLite's clock (the host's); PostgreSQL stamps with the statement's time.
On PostgreSQL a step's claim and start are one statement (`step_claim`), and a step's end
reads the run's steps in the same round trip (`StepStatements.end_and_read`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Connection,
    Select,
    bindparam,
    exists,
    func,
    insert,
    literal,
    null,
    select,
    union_all,
    update,
)
from sqlalchemy.sql.selectable import CTE

from corehub.store.models import pipeline_events_table as pe
from corehub.store.models import runs_table as r
from corehub.store.models import steps_table as st
from corehub.store.models import tasks_table as t
from corehub.store.pipeline_states import STEP_LIVE, RunStatus, StepStatus
from corehub.store.transitions import Transitions, lease_columns

RS, SS = RunStatus, StepStatus
RUN_ID: Any = bindparam("p_run")
STEP: Any = bindparam("p_step")
THIS_STEP = (st.c.run_id == RUN_ID, st.c.name == STEP)
EVENT_COLUMNS = ["run_id", "type", "step", "from_status", "to_status", "data", "created_at"]


class StepStatements:
    """Lock a run, start, end and release its steps, read them, log their events."""

    def __init__(self, sqlite: bool) -> None:
        now: Any = bindparam("p_now") if sqlite else func.statement_timestamp()
        lock = select(r.c.id, r.c.status, r.c.failure_policy, r.c.input).where(r.c.id == RUN_ID)
        self.lock = lock if sqlite else lock.with_for_update()
        self.steps = select(st).where(st.c.run_id == RUN_ID)
        self.results = select(t.c.id, t.c.result).where(
            t.c.id.in_(bindparam("p_ids", expanding=True))
        )
        self.log = insert(pe).values(created_at=now)
        self._starts(now)
        self._ends(now, sqlite)

    def _starts(self, now: Any) -> None:
        """queued → running for a step; its run is running, in the step's state."""
        self.start = (
            update(st)
            .where(*THIS_STEP, st.c.task_id == bindparam("p_task"), st.c.status == SS.QUEUED)
            .values(status=SS.RUNNING, started_at=now)
            .returning(st.c.label)
        )
        self.run_running = (
            update(r)
            .where(r.c.id == RUN_ID, r.c.status.in_([RS.RECEIVED, RS.RUNNING]))
            .values(status=RS.RUNNING, state=bindparam("p_state"), updated_at=now)
            .returning(r.c.started_at)
        )
        self.run_started = update(r).where(r.c.id == RUN_ID).values(started_at=now)

    def _ends(self, now: Any, sqlite: bool) -> None:
        """A live step's end, and a pending step's release with its task's id."""
        self.end = (
            update(st)
            .where(
                *THIS_STEP, st.c.task_id == bindparam("p_task"), st.c.status.in_(sorted(STEP_LIVE))
            )
            .values(status=bindparam("p_status"), finished_at=now, error=bindparam("p_error"))
            .returning(st.c.status)
        )
        # PostgreSQL: the end and the read of the run's steps in one round trip. The read
        # sees the statement's snapshot, so the ended step as it was; the caller patches it.
        ended = self.end.cte("ended")
        self.end_and_read: Select[Any] | None = (
            None
            if sqlite
            else select(st, exists(select(ended.c.status)).label("ended")).where(
                st.c.run_id == RUN_ID
            )
        )
        self.release = (
            update(st)
            .where(*THIS_STEP, st.c.status == SS.PENDING)
            .values(
                status=SS.QUEUED,
                task_id=bindparam("p_task"),  # the task is inserted next, in this transaction
                releases=st.c.releases + 1,
                released_at=now,
                error=None,
            )
        )


_STATEMENTS = {sqlite: StepStatements(sqlite) for sqlite in (True, False)}


def statements(conn: Connection) -> StepStatements:
    """The statements for `conn`'s dialect."""
    return _STATEMENTS[conn.dialect.name == "sqlite"]


def stamped(conn: Connection, now: Any, **params: Any) -> dict[str, Any]:
    """`params` with SQLite's `p_now` (`now` is `Database.now()`: PostgreSQL's is in SQL)."""
    return {**params, "p_now": now} if conn.dialect.name == "sqlite" else params


# -- PostgreSQL: a step's claim and start in one statement ---------------------------------


def step_claim(transitions: Transitions) -> Select[Any]:
    """`PipelineStore._start_step` folded into the claim's compare-and-set, in SQL.

    `locked` takes the run's row lock, and the compare-and-set reads the locked id in its
    condition: PostgreSQL evaluates `locked` before it touches (and locks) the task's row, so
    the run is locked first, as by every writer of a run. Everything is stamped with the
    claim's time (`changed.updated_at`). Rows are found by key through scalar subqueries, so
    each write is an index lookup whatever the tables hold. Returns the lease's columns, or
    no row.
    """
    run_of_task = select(t.c.pipeline_run_id).where(t.c.id == bindparam("p_id"))
    locked = (
        select(r.c.id, r.c.started_at)
        .where(r.c.id == run_of_task.scalar_subquery())
        .with_for_update()
        .cte("locked")
    )
    changed, logged = transitions.claim_ctes(
        t.c.pipeline_run_id == select(locked.c.id).scalar_subquery()
    )
    started, moved = _step_start_ctes(changed)
    return select(*lease_columns(changed)).add_cte(
        logged, _step_start_events(locked, changed, started, moved)
    )


def _step_start_ctes(changed: CTE) -> tuple[CTE, CTE]:
    """The claimed task's step (if still queued) → running; its run (if not ended) →
    running, in the step's state, started now unless it had started before."""
    at = select(changed.c.updated_at).scalar_subquery()
    started = (
        update(st)
        .where(
            st.c.run_id == select(changed.c.pipeline_run_id).scalar_subquery(),
            st.c.name == select(changed.c.step).scalar_subquery(),
            st.c.task_id == bindparam("p_id"),
            st.c.status == SS.QUEUED,
        )
        .values(status=SS.RUNNING, started_at=at)
        .returning(
            st.c.run_id,
            st.c.name,
            func.coalesce(st.c.label, RS.RUNNING.value).label("state"),
            st.c.started_at.label("at"),
        )
        .cte("started")
    )
    moved = (
        update(r)
        .where(
            r.c.id == select(started.c.run_id).scalar_subquery(),
            # Literal states (no expanding parameter), so the claim compiles once.
            r.c.status.in_([literal(RS.RECEIVED.value), literal(RS.RUNNING.value)]),
        )
        .values(
            status=RS.RUNNING,
            state=select(started.c.state).scalar_subquery(),
            updated_at=at,
            started_at=func.coalesce(r.c.started_at, at),
        )
        .returning(r.c.id)
        .cte("moved")
    )
    return started, moved


def _step_start_events(locked: CTE, changed: CTE, started: CTE, moved: CTE) -> CTE:
    """The events `_start_step` logs, in its order: `running` (the run's first step),
    `step_started`, `state` (the run moved)."""
    first = exists(select(locked.c.id).where(locked.c.started_at.is_(None)))
    run_moved = exists(select(moved.c.id))
    attempt = select(changed.c.attempt).scalar_subquery()
    data = func.jsonb_build_object("task_id", bindparam("p_id"), "attempt", attempt)
    events = union_all(
        _event(started, 0, "running", null(), RS.RECEIVED, RS.RUNNING, null()).where(
            run_moved, first
        ),
        _event(started, 1, "step_started", started.c.name, SS.QUEUED, SS.RUNNING, data),
        _event(started, 2, "state", started.c.name, None, started.c.state, null()).where(run_moved),
    ).subquery("events")
    ordered = select(*(events.c[c] for c in EVENT_COLUMNS)).order_by(events.c.position)
    return insert(pe).from_select(EVENT_COLUMNS, ordered).cte("logged_run")


def _event(
    started: CTE,
    position: int,
    type_: str,
    step: Any,
    from_status: str | None,
    to_status: Any,
    data: Any,
) -> Select[Any]:
    """One event row of a step's start; states as plain strings (a bare enum would be
    bound as its name)."""
    return select(
        started.c.run_id.label("run_id"),
        literal(type_).label("type"),
        step.label("step"),
        (null() if from_status is None else literal(str(from_status))).label("from_status"),
        (literal(str(to_status)) if isinstance(to_status, str) else to_status).label("to_status"),
        data.label("data"),
        started.c.at.label("created_at"),
        literal(position).label("position"),
    )
