"""The migrated schema is the one the models declare, on SQLite and PostgreSQL."""

from __future__ import annotations

import fcntl
import threading
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, text

from corehub.store import Database, NewTask, TaskStore
from corehub.store.migrate import HEAD, alembic_config, current_revision, upgrade
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


def test_foreign_keys_after_migrating_are_exactly_the_models(db: Database) -> None:
    """Migration 0008 took task_events' key away (SQLite by rebuilding the table, which must
    keep its index); every other table keeps the keys its model declares."""
    declared = {
        (table.name, tuple(fk.parent.name for fk in c.elements), c.referred_table.name)
        for table in Base.metadata.tables.values()
        for c in table.foreign_key_constraints
    }
    with db.read() as conn:
        inspector = inspect(conn)
        present = {
            (name, tuple(fk["constrained_columns"]), fk["referred_table"])
            for name in inspector.get_table_names()
            if name != "alembic_version"
            for fk in inspector.get_foreign_keys(name)
        }
        event_indexes = {ix["name"] for ix in inspector.get_indexes("task_events")}
    assert present == declared
    assert not any(name == "task_events" for name, _, _ in present)
    assert "ix_task_events_task" in event_indexes


def test_events_outlive_the_rebuild_that_drops_their_key(db: Database) -> None:
    store = TaskStore(db)
    cfg = alembic_config(db)
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0007")
    with db.read() as conn:
        assert inspect(conn).get_foreign_keys("task_events") != []  # 0007 had the key
    task_id = store.create([NewTask(name="echo_bot.echo", queue="celery")])[0].id
    upgrade(db)
    assert [e.type for e in store.events(task_id)] == ["queued"]
    with db.read() as conn:
        assert inspect(conn).get_foreign_keys("task_events") == []


def test_the_head_that_lets_a_migrated_schema_skip_alembic_is_the_scripts_head(
    db: Database,
) -> None:
    from alembic.script import ScriptDirectory

    assert ScriptDirectory.from_config(alembic_config(db)).get_current_head() == HEAD
    assert current_revision(db) == HEAD


def test_an_unreachable_database_is_unavailable_with_the_drivers_reason_on_one_line() -> None:
    from corehub.errors import Unavailable

    db = Database("postgresql+psycopg://app@127.0.0.1:1/nothing")  # port 1: nothing listens
    with pytest.raises(Unavailable, match="Connection refused") as raised:
        upgrade(db)
    assert "\n" not in raised.value.detail
    db.dispose()


def test_sqlite_is_not_opened_while_another_process_holds_the_migration_lock(
    tmp_path: Path,
) -> None:
    """Processes starting together (`api --workers N`) on a new file: one opening it while
    another migrates found it locked."""
    db = Database(f"sqlite:///{tmp_path / 'hub.db'}")
    with (tmp_path / "hub.db.migrate.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # as another process migrating
        starting = threading.Thread(target=upgrade, args=(db,))
        starting.start()
        starting.join(0.5)
        assert starting.is_alive() and not (tmp_path / "hub.db").exists()
    starting.join(30)
    assert current_revision(db) == HEAD
    db.dispose()
