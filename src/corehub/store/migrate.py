"""Bring the schema to the newest revision; safe when several processes start at once.

Every process of a hub, and every local CLI command, starts by migrating. A schema already
at `HEAD` is read in one query, without importing Alembic or loading its scripts (a fifth of
a second of CPU each time).
"""

from __future__ import annotations

import fcntl
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, SAWarning

from corehub.store.database import Database, outage_as_unavailable

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
HEAD = "0008"  # the newest revision in migrations/versions (test_migrations checks it)
PG_LOCK_ID = 7_243_001


def alembic_config(db: Database) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", db.url.render_as_string(hide_password=False))
    return cfg


def upgrade(db: Database) -> None:
    """Run pending migrations under a lock (advisory lock on PostgreSQL, a file on SQLite).
    On SQLite the revision is read under the file lock too: a process that opens the file
    while another migrates it finds it locked (switching it to WAL needs the lock)."""
    if not db.is_sqlite:
        if current_revision(db) != HEAD:
            _run(db, alembic_config(db))
        return
    lock_path = Path(str(db.url.database) + ".migrate.lock")
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if current_revision(db) != HEAD:
            _run(db, alembic_config(db))


def _run(db: Database, cfg: Config) -> None:
    from alembic import command

    with db.engine.begin() as conn, warnings.catch_warnings():
        # SQLite's batch migrations rebuild `tasks` from its reflection, which cannot read
        # the expression index on idempotency keys; the migrations make it again themselves
        # (test_migrations checks it), so the warning would only alarm a first start.
        warnings.filterwarnings(
            "ignore", "Skipped unsupported reflection of expression-based index", SAWarning
        )
        if not db.is_sqlite:
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": PG_LOCK_ID})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def current_revision(db: Database) -> str | None:
    """The schema's revision, None before the first migration. A database that cannot be
    reached is `Unavailable` with the driver's reason on one line: `upgrade` is the first
    thing a process does with its database, so this is what a wrong URL shows."""
    with outage_as_unavailable(reason=True), db.engine.connect() as conn:
        try:
            row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        except DBAPIError:  # no such table yet
            return None
    return row[0] if row else None
