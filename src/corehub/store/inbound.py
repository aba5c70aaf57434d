"""Inbound events: one row per (source, delivery id), committed with the runs it started.

The row and its runs commit in one transaction, and the row's unique (source, delivery_id)
decides which of two identical deliveries starts anything: the loser of the insert finds
the winner's row and starts nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select

from corehub.store.database import Database
from corehub.store.models import inbound_events_table as ie
from corehub.store.pipeline_records import NewRun
from corehub.store.pipelines import insert_runs
from corehub.store.records import TaskRecord
from corehub.store.sql import insert_if_absent

DELIVERY_KEY = ("source", "delivery_id")


@dataclass(frozen=True, slots=True)
class StandardEvent:
    """An external event in the one shape pipelines see, whatever sent it.

    `received_at` is the receiving host's clock: it labels the event and orders listings;
    nothing is scheduled by it. `runs` are the pipeline runs the event started (empty until
    it is stored).
    """

    id: str
    source: str
    delivery_id: str
    type: str
    subject: str | None
    payload: Any
    received_at: datetime
    runs: list[str] = field(default_factory=list)

    def as_input(self) -> dict[str, Any]:
        """The event as JSON, as a run started by it receives it (under `event`)."""
        return {
            "id": self.id,
            "source": self.source,
            "delivery_id": self.delivery_id,
            "type": self.type,
            "subject": self.subject,
            "payload": self.payload,
            "received_at": self.received_at.isoformat(),
        }

    @classmethod
    def from_row(cls, row: Row[Any]) -> StandardEvent:
        return cls(**row._asdict())


@dataclass(frozen=True, slots=True)
class Recorded:
    """What `record` did: `created` False means the delivery was a replay and `event` is the
    stored original; `tasks` are the committed root-step tasks to publish now."""

    event: StandardEvent
    created: bool
    tasks: list[TaskRecord] = field(default_factory=list)


class InboundStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, event: StandardEvent, runs: Sequence[NewRun]) -> Recorded:
        """Store the event and start `runs` in one transaction, once per delivery.

        `runs` are planned before (their ids are known), so the row names them as it is
        inserted. A delivery already stored starts nothing and returns the original.
        """
        stored = replace(event, runs=[r.id for r in runs])
        row = {
            "id": stored.id,
            "source": stored.source,
            "delivery_id": stored.delivery_id,
            "type": stored.type,
            "subject": stored.subject,
            "payload": stored.payload,
            "runs": stored.runs,
            "received_at": stored.received_at,
        }
        now = self.db.now()
        with self.db.write() as conn:
            stmt = insert_if_absent(self.db.dialect, ie, row, DELIVERY_KEY).returning(ie.c.id)
            if conn.execute(stmt).first() is None:
                # Another transaction stored this delivery; on PostgreSQL the insert waited
                # for it to commit, so this read sees its row.
                original = conn.execute(
                    select(ie).where(
                        ie.c.source == event.source, ie.c.delivery_id == event.delivery_id
                    )
                ).one()
                return Recorded(StandardEvent.from_row(original), created=False)
            tasks = insert_runs(conn, now, runs) if runs else []
        return Recorded(stored, created=True, tasks=tasks)

    def find(self, source: str, delivery_id: str) -> StandardEvent | None:
        stmt = select(ie).where(ie.c.source == source, ie.c.delivery_id == delivery_id)
        with self.db.read() as conn:
            row = conn.execute(stmt).first()
        return StandardEvent.from_row(row) if row else None

    def get(self, event_id: str) -> StandardEvent | None:
        with self.db.read() as conn:
            row = conn.execute(select(ie).where(ie.c.id == event_id)).first()
        return StandardEvent.from_row(row) if row else None

    def list(self, source: str | None = None, *, limit: int = 50) -> list[StandardEvent]:
        """Newest first."""
        stmt = select(ie).order_by(ie.c.received_at.desc(), ie.c.id.desc()).limit(limit)
        if source is not None:
            stmt = stmt.where(ie.c.source == source)
        with self.db.read() as conn:
            return [StandardEvent.from_row(r) for r in conn.execute(stmt)]
