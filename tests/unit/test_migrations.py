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
