"""The record: tables, migrations and every state transition. The only package that writes SQL."""

from corehub.store.database import Database
from corehub.store.records import (
    EventRecord,
    Lease,
    NewTask,
    Outcome,
    Page,
    TaskFilter,
    TaskRecord,
    new_task_id,
)
from corehub.store.states import TERMINAL, ErrorClass, TaskStatus
from corehub.store.tasks import TaskStore

__all__ = [
    "TERMINAL",
    "Database",
    "ErrorClass",
    "EventRecord",
    "Lease",
    "NewTask",
    "Outcome",
    "Page",
    "TaskFilter",
    "TaskRecord",
    "TaskStatus",
    "TaskStore",
    "new_task_id",
]
