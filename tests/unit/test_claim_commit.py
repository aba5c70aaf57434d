"""`database.async_claim_commit`: only claims skip the WAL flush, and only when asked."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from corehub.store import Database, NewTask, Outcome, TaskStatus, TaskStore
from tests.unit.helpers import migrated_pg_database

pytestmark = pytest.mark.servers


@pytest.fixture
def lazy_db(postgres_server: Any) -> Iterator[Database]:
    # The test server flushes nothing by default; this database's sessions do, as in production.
    with migrated_pg_database(
        postgres_server,
        server_sql="ALTER DATABASE {name} SET synchronous_commit = on",
        async_claim_commit=True,
    ) as database:
        yield database


def _synchronous_commit(db: Database, *, flushed: bool) -> str:
    with db.autocommit(flushed=flushed) as conn:
        return str(conn.exec_driver_sql("SHOW synchronous_commit").scalar_one())


def test_claims_commit_without_the_flush_and_everything_else_with_it(lazy_db: Database) -> None:
    assert _synchronous_commit(lazy_db, flushed=False) == "off"
    assert _synchronous_commit(lazy_db, flushed=True) == "on"
    with lazy_db.write() as conn:  # the pool of ordinary writes never gets a lazy session
        assert conn.exec_driver_sql("SHOW synchronous_commit").scalar_one() == "on"
    with lazy_db.read() as conn:
        assert conn.exec_driver_sql("SHOW synchronous_commit").scalar_one() == "on"


def test_a_claim_on_the_lazy_session_leads_to_a_recorded_finish(lazy_db: Database) -> None:
    store = TaskStore(lazy_db)
    task_id = store.create([NewTask(name="echo_bot.echo", queue="celery")])[0].id
    lease = store.claim(task_id, "w1")
    assert lease is not None
    assert store.finish(lease, Outcome(TaskStatus.SUCCESS, result={"ok": True}))
    assert [e.type for e in store.events(task_id)] == ["queued", "started", "success"]


def test_by_default_a_claim_commits_as_everything_else(pg_database: Database) -> None:
    with pg_database.read() as conn:
        default = conn.exec_driver_sql("SHOW synchronous_commit").scalar_one()
    with pg_database.autocommit(flushed=False) as lazy, pg_database.autocommit() as flushed:
        assert lazy is flushed  # the same kept session
    assert _synchronous_commit(pg_database, flushed=False) == default
