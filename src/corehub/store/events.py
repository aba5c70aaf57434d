"""Rows of the event log, built one way: every transition appends one in its transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, insert

from corehub.store.models import events_table as ev
from corehub.store.states import TaskStatus


def event_row(
    task_id: str,
    type_: str,
    from_status: TaskStatus | str | None,
    to_status: TaskStatus | str | None,
    attempt: int,
    message: str | None = None,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "task_id": task_id,
        "type": type_,
        "from_status": from_status,
        "to_status": to_status,
        "attempt": attempt,
        "message": message,
        "data": data,
    }


def append_events(conn: Connection, now: Any, rows: Sequence[dict[str, Any]]) -> None:
    """Insert event rows stamped `now` (the transaction's clock) in one statement."""
    if rows:
        conn.execute(insert(ev).values(created_at=now), list(rows))
