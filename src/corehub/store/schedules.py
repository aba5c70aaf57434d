"""Periodic schedules in SQL, and the firing of their slots exactly once.

Firing a schedule is one transaction: a compare-and-set that moves `next_fire_at` on from the
value the firer read (fenced by the leader's epoch), one `schedule_fires` row per slot (its
primary key is the schedule and the slot), and the slot's task with its `queued` event. Two
schedulers that race on the same slot serialize on the schedule row; the loser changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, delete, false, insert, select, update
from sqlalchemy.exc import IntegrityError

from corehub.errors import Conflict
from corehub.store.database import Database
from corehub.store.leadership import Fence, fenced_by
from corehub.store.models import schedule_fires_table as sf
from corehub.store.models import schedules_table as sc
from corehub.store.records import NewTask, TaskRecord
from corehub.store.sql import insert_if_absent
from corehub.store.tasks import insert_tasks


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """What defines a schedule, as the config file or the API gives it."""

    name: str
    task_name: str
    args: list[Any]
    kwargs: dict[str, Any]
    every_seconds: float | None
    cron: str | None
    timezone: str
    misfire: str  # skip|run_once
    queue: str | None
    priority: str | None
    paused: bool
    source: str  # config|api

    def same_timing(self, other: ScheduleSpec | ScheduleRecord) -> bool:
        return (self.every_seconds, self.cron, self.timezone) == (
            other.every_seconds,
            other.cron,
            other.timezone,
        )


@dataclass(frozen=True, slots=True)
class ScheduleRecord:
    name: str
    task_name: str
    args: list[Any]
    kwargs: dict[str, Any]
    every_seconds: float | None
    cron: str | None
    timezone: str
    misfire: str
    queue: str | None
    priority: str | None
    paused: bool
    source: str
    next_fire_at: datetime
    last_fire_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Row[Any]) -> ScheduleRecord:
        values = row._asdict()
        values["paused"] = bool(values["paused"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Fire:
    """One fired slot: which task it became."""

    schedule: str
    fire_at: datetime
    task_id: str
    created_at: datetime


class ScheduleStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- definitions -------------------------------------------------------------------------

    def get(self, name: str) -> ScheduleRecord | None:
        with self.db.read() as conn:
            row = conn.execute(select(sc).where(sc.c.name == name)).first()
        return ScheduleRecord.from_row(row) if row else None

    def list_schedules(self) -> list[ScheduleRecord]:
        with self.db.read() as conn:
            rows = conn.execute(select(sc).order_by(sc.c.name))
            return [ScheduleRecord.from_row(r) for r in rows]

    def create(self, spec: ScheduleSpec, *, next_fire_at: datetime) -> ScheduleRecord:
        """Insert a new schedule; `Conflict` if the name is taken."""
        now = self.db.now()
        row = {**asdict(spec), "next_fire_at": next_fire_at, "created_at": now, "updated_at": now}
        try:
            with self.db.write() as conn:
                created = conn.execute(insert(sc).values(**row).returning(sc)).one()
        except IntegrityError as exc:
            raise Conflict(f"a schedule named {spec.name!r} already exists") from exc
        return ScheduleRecord.from_row(created)

    def replace(self, spec: ScheduleSpec, *, next_fire_at: datetime) -> ScheduleRecord | None:
        """Overwrite a schedule's definition (None if there is none by that name)."""
        values = {**asdict(spec), "next_fire_at": next_fire_at, "updated_at": self.db.now()}
        with self.db.write() as conn:
            row = conn.execute(
                update(sc).where(sc.c.name == spec.name).values(**values).returning(sc)
            ).first()
        return ScheduleRecord.from_row(row) if row else None

    def set_paused(
        self, name: str, paused: bool, *, next_fire_at: datetime | None = None
    ) -> ScheduleRecord | None:
        """Pause or resume; a resumed schedule waits for `next_fire_at` (no backlog)."""
        values: dict[str, Any] = {"paused": paused, "updated_at": self.db.now()}
        if next_fire_at is not None:
            values["next_fire_at"] = next_fire_at
        with self.db.write() as conn:
            row = conn.execute(
                update(sc).where(sc.c.name == name).values(**values).returning(sc)
            ).first()
        return ScheduleRecord.from_row(row) if row else None

    def delete(self, name: str) -> bool:
        """Remove a schedule and its firing history (its tasks stay)."""
        with self.db.write() as conn:
            conn.execute(delete(sf).where(sf.c.schedule == name))
            return conn.execute(delete(sc).where(sc.c.name == name)).rowcount > 0

    # -- firing ------------------------------------------------------------------------------

    def due(
        self, now: datetime | ColumnElement[datetime], *, limit: int = 500
    ) -> list[ScheduleRecord]:
        """Unpaused schedules whose next slot is at or before `now` (a time, or
        `Database.now()`), most overdue first."""
        stmt = (
            select(sc)
            .where(sc.c.paused == false(), sc.c.next_fire_at <= now)
            .order_by(sc.c.next_fire_at)
            .limit(limit)
        )
        with self.db.read() as conn:
            return [ScheduleRecord.from_row(r) for r in conn.execute(stmt)]

    def fire(
        self,
        record: ScheduleRecord,
        slots: Sequence[tuple[datetime, NewTask]],
        *,
        next_fire_at: datetime,
        missed: int = 0,
        fence: Fence | None,
    ) -> list[TaskRecord]:
        """Fire `slots` of a schedule as read in `record` and move it on to `next_fire_at`.

        Nothing happens (returns []) if the schedule changed since it was read (another
        scheduler fired it, it was paused, redefined or deleted) or `fence` is stale. A slot
        already fired is not fired again.
        """
        now = self.db.now()
        advance = (
            update(sc)
            .where(
                sc.c.name == record.name,
                sc.c.next_fire_at == record.next_fire_at,
                sc.c.paused == false(),
                fenced_by(self.db, fence),
            )
            .values(next_fire_at=next_fire_at, updated_at=now)
        )
        if slots:
            advance = advance.values(last_fire_at=max(at for at, _ in slots))
        with self.db.write() as conn:
            if conn.execute(advance).rowcount == 0:
                return []
            tasks = [task for at, task in slots if self._claim_slot(conn, record.name, at, task.id)]
            if not tasks:
                return []
            message = f"fired by schedule {record.name}"
            if missed:
                policy = "run once" if record.misfire == "run_once" else "skipped"
                message += f" ({missed} missed slots {policy})"
            return insert_tasks(conn, now, tasks, message)

    def _claim_slot(self, conn: Connection, name: str, at: datetime, task_id: str) -> bool:
        row = {"schedule": name, "fire_at": at, "task_id": task_id, "created_at": self.db.now()}
        stmt = insert_if_absent(self.db.dialect, sf, row, ("schedule", "fire_at"))
        return conn.execute(stmt.returning(sf.c.task_id)).first() is not None

    def fires(self, name: str, *, limit: int = 100) -> list[Fire]:
        """The latest fired slots of a schedule, newest first."""
        stmt = select(sf).where(sf.c.schedule == name).order_by(sf.c.fire_at.desc()).limit(limit)
        with self.db.read() as conn:
            return [Fire(**r._asdict()) for r in conn.execute(stmt)]

    def delete_all(self) -> None:
        """Testing only."""
        with self.db.write() as conn:
            conn.execute(delete(sf))
            conn.execute(delete(sc))
