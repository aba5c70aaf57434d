"""Pipeline runs as a persisted state machine, advanced inside task transitions.

A step's task finishing and the release of the steps that were waiting for it happen in one
transaction, under a lock on the run's row: two parents of a fan-in finishing at once are
serialised, so the child is released exactly once, by whichever commits second. Nothing
polls for this; the leader only sweeps up steps whose task ended by another path (rescued
dead, hard time limit, a task cancelled on its own).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from corehub.errors import Conflict, NotFound
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
from corehub.store.pipeline_states import (
    RUN_FINAL,
    STEP_FINAL,
    STEP_LIVE,
    STEP_RERUNNABLE,
    FailurePolicy,
    RunStatus,
    StepStatus,
)
from corehub.store.records import Lease, NewTask, Outcome, TaskRecord
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
    if rows:
        conn.execute(insert(pe).values(created_at=now), list(rows))


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
    _log(
        conn,
        now,
        [
            pipeline_event(run.id, "received", to_status=RS.RECEIVED, data=_origin(run))
            for run in runs
        ],
    )
    roots = [
        (run.id, step.name, step.task, {**run.input, **step.kwargs})
        for run in runs
        for step in run.steps
        if not step.parents
    ]
    return _release(conn, now, roots)


def _origin(run: NewRun) -> dict[str, Any] | None:
    return {"event_id": run.event_id} if run.event_id else None


# The flow-control fields (keys, needs, gated) of a task from its name and arguments.
FlowGate = Callable[[str, dict[str, Any]], dict[str, Any]]


def _release(
    conn: Connection,
    now: Any,
    steps: Sequence[tuple[str, str, dict[str, Any], dict[str, Any]]],
    gate: FlowGate | None = None,
) -> list[TaskRecord]:
    """Create the tasks of pending steps (run id, step, task template, kwargs) and mark the
    steps queued; a step no longer pending is left alone. `gate` recomputes flow keys from
    the arguments the step finally gets (its parents' results)."""
    released: list[TaskRecord] = []
    for run_id, step, template, kwargs in steps:
        changed = conn.execute(
            update(st)
            .where(st.c.run_id == run_id, st.c.name == step, st.c.status == SS.PENDING)
            .values(status=SS.QUEUED, releases=st.c.releases + 1, released_at=now, error=None)
        ).rowcount
        if not changed:
            continue
        fields = {**template, **gate(template["name"], kwargs)} if gate else template
        task = NewTask(**fields, kwargs=kwargs, pipeline_run_id=run_id, step=step)
        released += insert_tasks(conn, now, [task], f"step {step} of pipeline run {run_id}")
        conn.execute(
            update(st).where(st.c.run_id == run_id, st.c.name == step).values(task_id=task.id)
        )
        _log(
            conn,
            now,
            [
                pipeline_event(
                    run_id,
                    "step_released",
                    step=step,
                    from_status=SS.PENDING,
                    to_status=SS.QUEUED,
                    data={"task_id": task.id},
                )
            ],
        )
    return released


class PipelineStore:
    def __init__(self, tasks: TaskStore, gate: FlowGate | None = None) -> None:
        self.tasks = tasks
        self.db: Database = tasks.db
        self.gate = gate

    # -- starting --------------------------------------------------------------------------

    def create(self, runs: Sequence[NewRun]) -> list[TaskRecord]:
        with self.db.write() as conn:
            return insert_runs(conn, self.db.now(), runs)

    # -- driven by the engine --------------------------------------------------------------

    def step_started(self, lease: Lease) -> None:
        """queued → running for the step; the run is `running`, in the step's named state."""
        if lease.pipeline_run_id is None or lease.step is None:
            return
        run_id, step = lease.pipeline_run_id, lease.step
        now = self.db.now()
        with self.db.write() as conn:
            self._lock(conn, run_id)  # the run before its steps, as every writer of a run
            row = conn.execute(
                update(st)
                .where(
                    st.c.run_id == run_id,
                    st.c.name == step,
                    st.c.task_id == lease.task_id,
                    st.c.status == SS.QUEUED,
                )
                .values(status=SS.RUNNING, started_at=now)
                .returning(st.c.label)
            ).first()
            if row is None:
                return  # a retry of a running step, or the run moved on
            state = row.label or RS.RUNNING
            before = conn.execute(
                update(r)
                .where(r.c.id == run_id, r.c.status.in_([RS.RECEIVED, RS.RUNNING]))
                .values(status=RS.RUNNING, state=state, updated_at=now)
                .returning(r.c.started_at)
            ).first()
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
                conn.execute(update(r).where(r.c.id == run_id).values(started_at=now))
                events.insert(
                    0,
                    pipeline_event(
                        run_id, "running", from_status=RS.RECEIVED, to_status=RS.RUNNING
                    ),
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
            self._lock(conn, lease.pipeline_run_id)
            if not self.tasks.transitions.finish_in(conn, lease, outcome):
                finished = False
                changed = Changed([], [])
            else:
                finished = True
                changed = self._step_ended(
                    conn,
                    lease.pipeline_run_id,
                    lease.step,
                    lease.task_id,
                    outcome.status,
                    outcome.error_message,
                )
        if not finished:
            self.tasks.record_lost_lease(lease)
        return finished, changed

    def _step_ended(
        self,
        conn: Connection,
        run_id: str,
        step: str,
        task_id: str,
        task_status: TaskStatus,
        error: str | None,
    ) -> Changed:
        status = STEP_OF_TASK.get(task_status)
        if status is None:  # retrying: the step goes on
            return Changed([], [])
        now = self.db.now()
        self._lock(conn, run_id)
        ended = conn.execute(
            update(st)
            .where(
                st.c.run_id == run_id,
                st.c.name == step,
                st.c.task_id == task_id,
                st.c.status.in_(list(STEP_LIVE)),
            )
            .values(status=status, finished_at=now, error=error)
            .returning(st.c.status)
        ).first()
        if ended is None:
            return Changed([], [])
        _log(
            conn,
            now,
            [
                pipeline_event(
                    run_id,
                    f"step_{status.value}",
                    step=step,
                    to_status=status,
                    message=error,
                    data={"task_id": task_id},
                )
            ],
        )
        return self._advance(conn, now, run_id)

    def _lock(self, conn: Connection, run_id: str) -> Any:
        """Serialise writers of one run (SQLite's writers are serialised already)."""
        stmt = select(r.c.status, r.c.failure_policy, r.c.input).where(r.c.id == run_id)
        if not self.db.is_sqlite:
            stmt = stmt.with_for_update()
        return conn.execute(stmt).first()

    def _advance(self, conn: Connection, now: Any, run_id: str) -> Changed:
        """Move the run forward from its steps' states: release what is ready, apply the
        failure policy, finish the run when nothing is left to run. Idempotent."""
        run = self._lock(conn, run_id)
        if run is None or RunStatus(run.status) in RUN_FINAL:
            return Changed([], [])
        steps = {s.name: s for s in conn.execute(select(st).where(st.c.run_id == run_id))}
        broken = {n for n, s in steps.items() if s.status in (SS.FAILED, SS.CANCELLED)}
        if broken and run.failure_policy == FailurePolicy.FAIL_FAST:
            first = sorted(broken)[0]
            revoke = self._stop_steps(conn, now, run_id, steps, f"step {first} failed")
            self._end_run(
                conn,
                now,
                run_id,
                RS.FAILED,
                f"step {first} failed: {steps[first].error or steps[first].status}",
            )
            return Changed([], revoke)
        statuses = {n: SS(s.status) for n, s in steps.items()}
        self._skip_dependents(conn, now, run_id, steps, statuses)
        ready = [
            s
            for s in steps.values()
            if statuses[s.name] is SS.PENDING and all(statuses[p] is SS.SUCCESS for p in s.parents)
        ]
        released = self._release_ready(conn, now, run_id, run.input, ready, steps)
        for task in released:
            statuses[task.step or ""] = SS.QUEUED
        if all(s in STEP_FINAL for s in statuses.values()):
            if all(s is SS.SUCCESS for s in statuses.values()):
                self._end_run(conn, now, run_id, RS.COMPLETED, None)
            else:
                failed = sorted(n for n, s in statuses.items() if s is not SS.SUCCESS)
                self._end_run(
                    conn, now, run_id, RS.FAILED, f"steps not completed: {', '.join(failed)}"
                )
        return Changed(released, [])

    def _skip_dependents(
        self,
        conn: Connection,
        now: Any,
        run_id: str,
        steps: dict[str, Any],
        statuses: dict[str, StepStatus],
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
                    _log(
                        conn,
                        now,
                        [
                            pipeline_event(
                                run_id,
                                "step_skipped",
                                step=name,
                                from_status=SS.PENDING,
                                to_status=SS.SKIPPED,
                            )
                        ],
                    )

    def _release_ready(
        self,
        conn: Connection,
        now: Any,
        run_id: str,
        run_input: dict[str, Any],
        ready: Sequence[Any],
        steps: dict[str, Any],
    ) -> list[TaskRecord]:
        if not ready:
            return []
        parent_tasks = {steps[p].task_id for s in ready for p in s.parents}
        results = dict(
            conn.execute(select(t.c.id, t.c.result).where(t.c.id.in_(parent_tasks))).all()
        )
        batch = [
            (
                run_id,
                s.name,
                s.options,
                {
                    **(run_input if not s.parents else {}),
                    **s.kwargs,
                    **{p: results.get(steps[p].task_id) for p in s.parents},
                },
            )
            for s in sorted(ready, key=lambda s: s.position)
        ]
        return _release(conn, now, batch, self.gate)

    def _stop_steps(
        self, conn: Connection, now: Any, run_id: str, steps: dict[str, Any], reason: str
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
            _log(
                conn,
                now,
                [
                    pipeline_event(
                        run_id,
                        "step_cancelled",
                        step=name,
                        from_status=s.status,
                        to_status=SS.CANCELLED,
                        message=reason,
                    )
                ],
            )
        return revoke

    def _end_run(
        self, conn: Connection, now: Any, run_id: str, status: RunStatus, error: str | None
    ) -> None:
        before = conn.execute(
            update(r)
            .where(r.c.id == run_id, r.c.status.not_in(list(RUN_FINAL)))
            .values(status=status, state=status, error=error, finished_at=now, updated_at=now)
            .returning(r.c.id)
        ).first()
        if before is not None:
            _log(conn, now, [pipeline_event(run_id, status.value, to_status=status, message=error)])

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
            revoke = self._stop_steps(conn, now, run_id, steps, reason)
            self._end_run(conn, now, run_id, RS.CANCELLED, reason)
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
            _log(
                conn,
                now,
                [
                    pipeline_event(
                        run_id,
                        "rerun",
                        from_status=run.status,
                        to_status=RS.RUNNING,
                        data={"steps": sorted(s.name for s in again)},
                    )
                ],
            )
            return self._advance(conn, now, run_id).publish

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
            with self.db.write() as conn:
                changed = self._step_ended(
                    conn,
                    row.run_id,
                    row.name,
                    row.task_id,
                    TaskStatus(row.status),
                    row.error_message,
                )
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
