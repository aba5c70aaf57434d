"""The migrated schema is the one the models declare, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import text

from corehub.store import Database
from corehub.store.models import Base


def test_migrations_create_every_index_the_models_declare(db: Database) -> None:
    """A table rebuilt by a migration (SQLite's batch mode) loses expression indexes unless
    the migration makes them again; the unique idempotency index is one of them."""
    declared = {ix.name for table in Base.metadata.tables.values() for ix in table.indexes}
    query = (
        "SELECT name FROM sqlite_master WHERE type = 'index'"
        if db.is_sqlite
        else "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
    )
    with db.read() as conn:
        present = {row[0] for row in conn.execute(text(query))}
    assert declared - present == set()


def test_task_indexes_after_migrating_are_exactly_the_models(db: Database) -> None:
    """Indexes a migration replaced are gone, and each partial one keeps its predicate: an
    index left behind would cost every transition a write for nothing."""
    declared = {ix.name for ix in Base.metadata.tables["tasks"].indexes}
    query = (
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tasks'"
        " AND sql IS NOT NULL"
        if db.is_sqlite
        else "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'tasks'"
        " AND indexname <> 'pk_tasks' AND indexname <> 'tasks_pkey'"
    )
    with db.read() as conn:
        present = {row[0]: row[1] for row in conn.execute(text(query))}
    assert set(present) == declared
    assert "'started'" in present["ix_tasks_started_heartbeat"]
    assert "'scheduled'" in present["ix_tasks_waiting"]
    assert "published_at IS NULL" in present["ix_tasks_unpublished"]
    assert "'retrying'" in present["ix_tasks_unfinished"]
    assert "'dead'" in present["ix_tasks_unsuccessful"]
    assert "ix_tasks_status_created" not in present  # each transition paid for it
