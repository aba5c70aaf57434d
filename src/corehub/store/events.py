"""Rows of the event log, built one way: every transition appends one in its transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Dialect

from corehub.store.models import events_table as ev
from corehub.store.sql import DriverInsert, clock_value, driver_insert
from corehub.store.states import TaskStatus

EVENT_COLUMNS = (
    "task_id",
    "type",
    "from_status",
    "to_status",
    "attempt",
    "message",
    "data",
    "created_at",
)


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


def event_insert(dialect: Dialect) -> DriverInsert:
    """The one statement that inserts an event row."""
    return driver_insert(ev, EVENT_COLUMNS, dialect)


def append_events(conn: Connection, now: Any, rows: Sequence[dict[str, Any]]) -> None:
    """Insert event rows stamped `now` (the transaction's clock) in one driver call."""
    if rows:
        stamp = clock_value(conn, now)
        event_insert(conn.dialect).many(conn, [{**row, "created_at": stamp} for row in rows])
