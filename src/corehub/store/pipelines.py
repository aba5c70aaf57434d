"""Pipeline runs as a persisted state machine, advanced inside task transitions.

A step's task finishing and the release of the steps that were waiting for it happen in one
transaction, under a lock on the run's row: two parents of a fan-in finishing at once are
serialised, so the child is released exactly once, by whichever commits second. Nothing
polls for this; the leader only sweeps up steps whose task ended by another path (rescued
dead, hard time limit, a task cancelled on its own). A step starts in its task's claim: one
transaction, so the step's `started_at` is its attempt's.

Lock order: every writer of a run locks the run's row before any of its tasks or steps (a
cancel, a finish, a claim), so two of them wait for each other instead of deadlocking.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    Connection,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from corehub.errors import Conflict, NotFound
from corehub.ids import random_uuid
from corehub.store.database import Database
from corehub.store.models import definitions_table as defs
from corehub.store.models import pipeline_events_table as pe
from corehub.store.models import runs_table as r
from corehub.store.models import steps_table as st
from corehub.store.models import tasks_table as t
from corehub.store.paging import after_cursor, page_of
from corehub.store.pipeline_records import (
    NewRun,
    PipelineEventRecord,
    RunPage,
    RunRecord,
    StepRecord,
)
from corehub.store.pipeline_sql import stamped, statements, step_claim
from corehub.store.pipeline_states import (
    RUN_FINAL,
    STEP_FINAL,
    STEP_LIVE,
    STEP_RERUNNABLE,
    FailurePolicy,
    RunStatus,
    StepStatus,
)
from corehub.store.records import Lease, NewTask, Outcome, TaskRecord, new_task_id
from corehub.store.states import TERMINAL, TaskStatus
from corehub.store.tasks import TaskStore, cancel_in, insert_tasks

log = logging.getLogger("corehub.pipelines")
RS, SS = RunStatus, StepStatus
STEP_OF_TASK = {
    TaskStatus.SUCCESS: SS.SUCCESS,
    TaskStatus.FAILURE: SS.FAILED,
    TaskStatus.DEAD: SS.FAILED,
    TaskStatus.CANCELLED: SS.CANCELLED,
}
RUN_COLUMNS = [c for c in r.c]


@dataclass(frozen=True, slots=True)
class Changed:
    """What a pipeline write did: tasks to publish after commit, tasks to revoke."""

    publish: list[TaskRecord]
    revoke: list[str]


@dataclass(frozen=True, slots=True)
class _Ended:
    """A step's task that ended: which step, and how."""

    step: str
    task_id: str
    task_status: TaskStatus
    error: str | None


_UNKNOWN: Any = object()  # a result not at hand: read it from the task's row


def pipeline_event(
    run_id: str,
    type_: str,
    *,
    step: str | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
    message: str | None = None,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "type": type_,
        "step": step,
        "from_status": from_status,
        "to_status": to_status,
        "message": message,
        "data": data,
    }


def _log(conn: Connection, now: Any, rows: Sequence[dict[str, Any]]) -> None:
    """Write a transaction's pipeline events in one statement (at its end: one round trip);
    `now` is `Database.now()`."""
    if rows:
        conn.execute(statements(conn).log, [stamped(conn, now, **row) for row in rows])


def insert_runs(conn: Connection, now: Any, runs: Sequence[NewRun]) -> list[TaskRecord]:
    """Store runs (`received`) with their steps and release their root steps, inside the
    caller's transaction. Returns the root tasks, to publish after commit."""
    if not runs:
        return []
    conn.execute(
        insert(r).values(created_at=now, updated_at=now, reruns=0),
        [
            {
                "id": run.id,
                "pipeline": run.pipeline,
                "status": RS.RECEIVED,
                "state": RS.RECEIVED,
                "failure_policy": run.failure_policy,
                "input": run.input,
                "event_id": run.event_id,
                "owner": run.owner,
            }
            for run in runs
        ],
    )
    conn.execute(
        insert(st),
        [
            {
                "run_id": run.id,
                "name": step.name,
                "position": position,
                "task_name": step.task_name,
                "parents": step.parents,
                "kwargs": step.kwargs,
                "options": step.task,
                "label": step.label,
                "status": SS.PENDING,
                "releases": 0,
            }
            for run in runs
            for position, step in enumerate(run.steps)
        ],
    )
    events = [
        pipeline_event(run.id, "received", to_status=RS.RECEIVED, data=_origin(run)) for run in runs
    ]
    roots = [
        (run.id, step.name, step.task, {**run.input, **step.kwargs})
        for run in runs
        for step in run.steps
        if not step.parents
    ]
    released = _release(conn, now, roots, events)
    _log(conn, now, events)
    return released


def _origin(run: NewRun) -> dict[str, Any] | None:
    return {"event_id": run.event_id} if run.event_id else None


# The flow-control fields (keys, needs, gated) of a task from its name and arguments.
FlowGate = Callable[[str, dict[str, Any]], dict[str, Any]]


def _release(
    conn: Connection,
    now: Any,
    steps: Sequence[tuple[str, str, dict[str, Any], dict[str, Any]]],
    events: list[dict[str, Any]],
    gate: FlowGate | None = None,
) -> list[TaskRecord]:
    """Create the tasks of pending steps (run id, step, task template, kwargs) and mark the
    steps queued with them; a step no longer pending is left alone. `gate` recomputes flow
    keys from the arguments the step finally gets (its parents' results). Their events go
    to `events`."""
    released: list[TaskRecord] = []
    for run_id, step, template, kwargs in steps:
        task_id = new_task_id()
        params = stamped(conn, now, p_run=run_id, p_step=step, p_task=task_id)
        if not conn.execute(statements(conn).release, params).rowcount:
            continue
        fields = {**template, **gate(template["name"], kwargs)} if gate else template
        task = NewTask(**fields, id=task_id, kwargs=kwargs, pipeline_run_id=run_id, step=step)
        released += insert_tasks(conn, now, [task], f"step {step} of pipeline run {run_id}")
        events.append(
            pipeline_event(
                run_id,
                "step_released",
                step=step,
                from_status=SS.PENDING,
                to_status=SS.QUEUED,
                data={"task_id": task.id},
            )
        )
    return released


class PipelineStore:
    def __init__(self, tasks: TaskStore, gate: FlowGate | None = None) -> None:
        self.tasks = tasks
        self.db: Database = tasks.db
        self.gate = gate
        self._step_claim = (
            None if self.db.is_sqlite else tasks.transitions.driver(step_claim(tasks.transitions))
        )

    # -- starting --------------------------------------------------------------------------

    def create(self, runs: Sequence[NewRun]) -> list[TaskRecord]:
        with self.db.write() as conn:
            return insert_runs(conn, self.db.now(), runs)

    # -- driven by the engine --------------------------------------------------------------

    def claim(self, task_id: str, worker: str, *, step_first: bool = False) -> Lease | None:
        """queued → started for any task, as `TaskStore.claim`; a pipeline step's queued →
        running goes in the same transaction, stamped with the claim's time.

        On SQLite one write transaction does both for every task: its writers are serialised,
        so there is no lock order to keep. On PostgreSQL a task outside any pipeline keeps its
        one-statement claim; a step's claim is one other statement that locks the run first.
        Either is tried first (`step_first`, when the message says it is a step), the other
        after it: a task that is neither is not claimable.
        """
        token = random_uuid()
        if self.db.is_sqlite:  # concurrent claims share a commit (`Database.grouped`)
            return self.db.grouped(lambda conn: self._claim_in(conn, task_id, token, worker))
        plain = self.tasks.transitions.claim_unless_step
        first, then = (self._claim_step, plain) if step_first else (plain, self._claim_step)
        return first(task_id, token, worker) or then(task_id, token, worker)

    def finish_then_claim(
        self, finish: tuple[Lease, Outcome], task_id: str, worker: str
    ) -> tuple[bool, Lease | None]:
        """PostgreSQL: an earlier attempt's finish, then the claim of a task outside any
        pipeline, in one statement (one round trip, one durable commit). Whether the finish
        still held its lease, and the lease; None when the plain claim found nothing (a step
        is then claimed by `claim(step_first=True)`)."""
        lease, outcome = finish
        return self.tasks.transitions.finish_then_claim(
            lease, outcome, task_id, random_uuid(), worker
        )

    def _claim_in(self, conn: Connection, task_id: str, token: str, worker: str) -> Lease | None:
        claimed = self.tasks.transitions.claim_in(conn, task_id, token, worker)
        if claimed is None:
            return None
        lease, at = claimed
        if lease.pipeline_run_id is not None:
            self._start_step(conn, lease, at)
        return lease

    def _claim_step(self, task_id: str, token: str, worker: str) -> Lease | None:
        assert self._step_claim is not None
        return self.tasks.transitions.claim_with(self._step_claim, task_id, token, worker)

    def _start_step(self, conn: Connection, lease: Lease, now: datetime | Any) -> None:
        """queued → running for the step; the run is `running`, in the step's named state.
        `pipeline_sql.step_claim` does the same on PostgreSQL, in the claim's statement."""
        assert lease.pipeline_run_id is not None and lease.step is not None
        run_id, step = lease.pipeline_run_id, lease.step
        sql = statements(conn)
        params = stamped(conn, now, p_run=run_id, p_step=step, p_task=lease.task_id)
        row = conn.execute(sql.start, params).first()
        if row is None:
            return  # a retry of a running step, or the run moved on
        state = row.label or RS.RUNNING
        before = conn.execute(sql.run_running, {**params, "p_state": state}).first()
        events = [
            pipeline_event(
                run_id,
                "step_started",
                step=step,
                from_status=SS.QUEUED,
                to_status=SS.RUNNING,
                data={"task_id": lease.task_id, "attempt": lease.attempt},
            )
        ]
        if before is not None and before.started_at is None:
            conn.execute(sql.run_started, params)
            events.insert(
                0,
                pipeline_event(run_id, "running", from_status=RS.RECEIVED, to_status=RS.RUNNING),
            )
        if before is not None:
            events.append(pipeline_event(run_id, "state", step=step, to_status=state))
        _log(conn, now, events)

    def finish_step(self, lease: Lease, outcome: Outcome) -> tuple[bool, Changed]:
        """Finish a step's task and, in the same transaction, advance its run."""
        assert lease.pipeline_run_id is not None and lease.step is not None
        with self.db.write() as conn:
            # Every writer of a run locks the run first, then its tasks and steps: a cancel
            # or a sibling's fail-fast racing this finish waits instead of deadlocking.
            run = self._lock(conn, lease.pipeline_run_id)
            if not self.tasks.transitions.finish_in(conn, lease, outcome):
                finished = False
                changed = Changed([], [])
            else:
                finished = True
                ended = _Ended(lease.step, lease.task_id, outcome.status, outcome.error_message)
                changed = self._step_ended(conn, run, ended, outcome.result)
        if not finished:
            self.tasks.record_lost_lease(lease)
        return finished, changed

    def _step_ended(
        self, conn: Connection, run: Any, ended: _Ended, result: Any = _UNKNOWN
    ) -> Changed:
        """The step of a task that ended (`run` locked), and what that moves in the run;
        `result` is the task's when the caller has it at hand (saves reading it back)."""
        status = STEP_OF_TASK.get(ended.task_status)
        if status is None or run is None:  # retrying (the step goes on), or no such run
            return Changed([], [])
        now = self.db.now()
        steps = self._end_step(conn, run.id, ended, status, now)
        if steps is None:
            return Changed([], [])
        events = [
            pipeline_event(
                run.id,
                f"step_{status.value}",
                step=ended.step,
                to_status=status,
                message=ended.error,
                data={"task_id": ended.task_id},
            )
        ]
        known = {ended.task_id: result} if result is not _UNKNOWN else {}
        changed = self._advance(conn, now, run, events, known, steps)
        _log(conn, now, events)
        return changed

    def _end_step(
        self, conn: Connection, run_id: str, ended: _Ended, status: StepStatus, now: Any
    ) -> dict[str, Any] | None:
        """End the step (if live) and read the run's steps as they are then, or None if it
        was not live any more."""
        sql = statements(conn)
        params = stamped(
            conn,
            now,
            p_run=run_id,
            p_step=ended.step,
            p_task=ended.task_id,
            p_status=status.value,
            p_error=ended.error,
        )
        if sql.end_and_read is None:
            if conn.execute(sql.end, params).first() is None:
                return None
            return {s.name: s for s in conn.execute(sql.steps, {"p_run": run_id})}
        rows = conn.execute(sql.end_and_read, params).all()
        if not rows or not rows[0].ended:
            return None
        steps: dict[str, Any] = {row.name: row for row in rows}
        before = steps[ended.step]._asdict()
        steps[ended.step] = SimpleNamespace(
            **{**before, "status": status.value, "error": ended.error}
        )
        return steps

    def _lock(self, conn: Connection, run_id: str) -> Any:
        """Serialise writers of one run (SQLite's writers are serialised already); the run's
        row, or None."""
        return conn.execute(statements(conn).lock, {"p_run": run_id}).first()

    def _advance(
        self,
        conn: Connection,
        now: Any,
        run: Any,
        events: list[dict[str, Any]],
        known: dict[str, Any] | None = None,
        steps: dict[str, Any] | None = None,
    ) -> Changed:
        """Move the run (its locked row) forward from its steps' states: release what is
        ready, apply the failure policy, finish the run when nothing is left to run.
        Idempotent. `known` holds task results at hand by task id; `steps` the run's steps
        when the caller has just read them."""
        if RunStatus(run.status) in RUN_FINAL:
            return Changed([], [])
        if steps is None:
            steps = {s.name: s for s in conn.execute(statements(conn).steps, {"p_run": run.id})}
        broken = {n for n, s in steps.items() if s.status in (SS.FAILED, SS.CANCELLED)}
        if broken and run.failure_policy == FailurePolicy.FAIL_FAST:
            first = sorted(broken)[0]
            revoke = self._stop_steps(conn, now, run.id, steps, f"step {first} failed", events)
            why = f"step {first} failed: {steps[first].error or steps[first].status}"
            self._end_run(conn, now, run.id, RS.FAILED, why, events)
            return Changed([], revoke)
        statuses = {n: SS(s.status) for n, s in steps.items()}
        self._skip_dependents(conn, now, run.id, steps, statuses, events)
        ready = [
            s
            for s in steps.values()
            if statuses[s.name] is SS.PENDING and all(statuses[p] is SS.SUCCESS for p in s.parents)
        ]
        released = self._release_ready(conn, now, run, ready, steps, events, known or {})
        for task in released:
            statuses[task.step or ""] = SS.QUEUED
        if all(s in STEP_FINAL for s in statuses.values()):
            if all(s is SS.SUCCESS for s in statuses.values()):
                self._end_run(conn, now, run.id, RS.COMPLETED, None, events)
            else:
                failed = sorted(n for n, s in statuses.items() if s is not SS.SUCCESS)
                why = f"steps not completed: {', '.join(failed)}"
                self._end_run(conn, now, run.id, RS.FAILED, why, events)
        return Changed(released, [])

    def _skip_dependents(
        self,
        conn: Connection,
        now: Any,
        run_id: str,
        steps: dict[str, Any],
        statuses: dict[str, StepStatus],
        events: list[dict[str, Any]],
    ) -> None:
        """Under `continue`, a pending step below a failed one can never run: skip it."""
        blocked = (SS.FAILED, SS.CANCELLED, SS.SKIPPED)
        changed = True
        while changed:
            changed = False
            for name, s in steps.items():
                if statuses[name] is SS.PENDING and any(statuses[p] in blocked for p in s.parents):
                    statuses[name] = SS.SKIPPED
                    changed = True
                    conn.execute(
                        update(st)
                        .where(st.c.run_id == run_id, st.c.name == name)
                        .values(status=SS.SKIPPED, finished_at=now, error="a parent step failed")
                    )
                    events.append(
                        pipeline_event(
                            run_id,
                            "step_skipped",
                            step=name,
                            from_status=SS.PENDING,
                            to_status=SS.SKIPPED,
                        )
                    )

    def _release_ready(
        self,
        conn: Connection,
        now: Any,
        run: Any,
        ready: Sequence[Any],
        steps: dict[str, Any],
        events: list[dict[str, Any]],
        known: dict[str, Any],
    ) -> list[TaskRecord]:
        """Release the ready steps with their parents' results as arguments (read back only
        for parents whose result is not at hand)."""
        if not ready:
            return []
        results = dict(known)
        missing = {steps[p].task_id for s in ready for p in s.parents} - results.keys()
        if missing:
            rows = conn.execute(statements(conn).results, {"p_ids": sorted(missing)})
            results.update((row.id, row.result) for row in rows)
        batch = [
            (
                run.id,
                s.name,
                s.options,
                {
                    **(run.input if not s.parents else {}),
                    **s.kwargs,
                    **{p: results.get(steps[p].task_id) for p in s.parents},
                },
            )
            for s in sorted(ready, key=lambda s: s.position)
        ]
        return _release(conn, now, batch, events, self.gate)

    def _stop_steps(
        self,
        conn: Connection,
        now: Any,
        run_id: str,
        steps: dict[str, Any],
        reason: str,
        events: list[dict[str, Any]],
    ) -> list[str]:
        """Cancel every unfinished step and its task; returns started task ids to revoke."""
        revoke: list[str] = []
        for name, s in steps.items():
            if s.status in STEP_FINAL:
                continue
            live = s.status in STEP_LIVE and s.task_id
            if live and cancel_in(conn, now, s.task_id, reason) is TaskStatus.STARTED:
                revoke.append(s.task_id)
            conn.execute(
                update(st)
                .where(st.c.run_id == run_id, st.c.name == name)
                .values(status=SS.CANCELLED, finished_at=now, error=reason)
            )
            events.append(
                pipeline_event(
                    run_id,
                    "step_cancelled",
                    step=name,
                    from_status=s.status,
                    to_status=SS.CANCELLED,
                    message=reason,
                )
            )
        return revoke

    def _end_run(
        self,
        conn: Connection,
        now: Any,
        run_id: str,
        status: RunStatus,
        error: str | None,
        events: list[dict[str, Any]],
    ) -> None:
        before = conn.execute(
            update(r)
            .where(r.c.id == run_id, r.c.status.not_in(list(RUN_FINAL)))
            .values(status=status, state=status, error=error, finished_at=now, updated_at=now)
            .returning(r.c.id)
        ).first()
        if before is not None:
            events.append(pipeline_event(run_id, status.value, to_status=status, message=error))

    # -- on request ------------------------------------------------------------------------

    def cancel(self, run_id: str, reason: str = "cancelled on request") -> list[str]:
        """Cancel an unfinished run and its steps; returns started task ids to revoke."""
        now = self.db.now()
        with self.db.write() as conn:
            run = self._lock(conn, run_id)
            if run is None:
                raise NotFound(f"no pipeline run with id {run_id!r}")
            if RunStatus(run.status) in RUN_FINAL:
                raise Conflict(f"pipeline run {run_id} already finished ({run.status})")
            steps = {s.name: s for s in conn.execute(select(st).where(st.c.run_id == run_id))}
            events: list[dict[str, Any]] = []
            revoke = self._stop_steps(conn, now, run_id, steps, reason, events)
            self._end_run(conn, now, run_id, RS.CANCELLED, reason, events)
            _log(conn, now, events)
        return revoke

    def rerun(self, run_id: str) -> list[TaskRecord]:
        """Run a failed or cancelled run again from the steps that did not succeed; the
        results of the steps that did are kept and fed to their children."""
        now = self.db.now()
        with self.db.write() as conn:
            run = self._lock(conn, run_id)
            if run is None:
                raise NotFound(f"no pipeline run with id {run_id!r}")
            if run.status not in (RS.FAILED, RS.CANCELLED):
                raise Conflict(
                    f"only failed or cancelled runs can be rerun; {run_id} is {run.status}"
                )
            again = conn.execute(
                update(st)
                .where(st.c.run_id == run_id, st.c.status.in_(list(STEP_RERUNNABLE)))
                .values(status=SS.PENDING, finished_at=None, started_at=None)
                .returning(st.c.name)
            ).all()
            conn.execute(
                update(r)
                .where(r.c.id == run_id)
                .values(
                    status=RS.RUNNING,
                    state=RS.RUNNING,
                    error=None,
                    finished_at=None,
                    updated_at=now,
                    reruns=r.c.reruns + 1,
                )
            )
            events = [
                pipeline_event(
                    run_id,
                    "rerun",
                    from_status=run.status,
                    to_status=RS.RUNNING,
                    data={"steps": sorted(s.name for s in again)},
                )
            ]
            released = self._advance(conn, now, self._lock(conn, run_id), events).publish
            _log(conn, now, events)
            return released

    def reconcile(self, limit: int = 100) -> Changed:
        """Advance runs whose step task ended outside a step finish (rescued dead, hard time
        limit, cancelled as a task). Idempotent, so a stale leader doing it is harmless."""
        stmt = (
            select(st.c.run_id, st.c.name, st.c.task_id, t.c.status, t.c.error_message)
            .join(t, t.c.id == st.c.task_id)
            .where(st.c.status.in_(list(STEP_LIVE)), t.c.status.in_(list(TERMINAL)))
            .limit(limit)
        )
        with self.db.read() as conn:
            stale = conn.execute(stmt).all()
        publish: list[TaskRecord] = []
        revoke: list[str] = []
        for row in stale:
            ended = _Ended(row.name, row.task_id, TaskStatus(row.status), row.error_message)
            with self.db.write() as conn:
                changed = self._step_ended(conn, self._lock(conn, row.run_id), ended)
            publish += changed.publish
            revoke += changed.revoke
        return Changed(publish, revoke)

    # -- reading ---------------------------------------------------------------------------

    def get(self, run_id: str) -> RunRecord | None:
        with self.db.read() as conn:
            row = conn.execute(select(*RUN_COLUMNS).where(r.c.id == run_id)).first()
            if row is None:
                return None
            steps = conn.execute(
                select(
                    st.c.name,
                    st.c.position,
                    st.c.task_name,
                    st.c.parents,
                    st.c.label,
                    st.c.status,
                    st.c.task_id,
                    st.c.releases,
                    st.c.released_at,
                    st.c.started_at,
                    st.c.finished_at,
                    st.c.error,
                    t.c.attempt,
                    t.c.status.label("task_status"),
                    t.c.result,
                )
                .outerjoin(t, t.c.id == st.c.task_id)
                .where(st.c.run_id == run_id)
                .order_by(st.c.position)
            ).all()
        records = [StepRecord(**{**s._asdict(), "attempt": s.attempt or 0}) for s in steps]
        return RunRecord.from_row(row, records)

    def list_runs(
        self,
        *,
        pipeline: str | None = None,
        statuses: Sequence[str] = (),
        limit: int,
        cursor: str | None = None,
    ) -> RunPage:
        stmt = select(*RUN_COLUMNS)
        if pipeline:
            stmt = stmt.where(r.c.pipeline == pipeline)
        if statuses:
            stmt = stmt.where(r.c.status.in_(list(statuses)))
        with self.db.read() as conn:
            rows = conn.execute(after_cursor(stmt, r, cursor).limit(limit + 1)).all()
        items, next_cursor = page_of(rows, limit, RunRecord.from_row)
        return RunPage(items, next_cursor)

    def events(
        self, run_id: str, *, after: int = 0, limit: int = 1000
    ) -> list[PipelineEventRecord]:
        stmt = (
            select(pe).where(pe.c.run_id == run_id, pe.c.id > after).order_by(pe.c.id).limit(limit)
        )
        with self.db.read() as conn:
            return [PipelineEventRecord.from_row(row) for row in conn.execute(stmt)]

    # -- definitions stored through the API ------------------------------------------------

    def save_definition(self, name: str, spec: dict[str, Any]) -> bool:
        """Insert or replace; True when it was new."""
        now = self.db.now()
        with self.db.write() as conn:
            updated = conn.execute(
                update(defs).where(defs.c.name == name).values(spec=spec, updated_at=now)
            ).rowcount
            if updated:
                return False
            try:
                conn.execute(
                    insert(defs).values(name=name, spec=spec, created_at=now, updated_at=now)
                )
            except IntegrityError:
                raise Conflict(f"pipeline {name!r} was defined concurrently") from None
        return True

    def definitions(self) -> dict[str, dict[str, Any]]:
        with self.db.read() as conn:
            return {row.name: row.spec for row in conn.execute(select(defs.c.name, defs.c.spec))}

    def delete_definition(self, name: str) -> bool:
        with self.db.write() as conn:
            return bool(conn.execute(delete(defs).where(defs.c.name == name)).rowcount)


__all__ = ["Changed", "PipelineStore", "insert_runs", "pipeline_event"]
