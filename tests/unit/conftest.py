"""Fixtures shared by the unit tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from corehub.store import Database, TaskStore
from corehub.store.migrate import upgrade
from tests.unit.helpers import migrated_pg_database


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No COREHUB_* variables, an empty HOME and an empty working directory (returned)."""
    for name in list(os.environ):
        if name.startswith("COREHUB_"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


@pytest.fixture(scope="module")
def pg_database(postgres_server: Any) -> Iterator[Database]:
    """One migrated PostgreSQL database for this module, dropped at its end."""
    with migrated_pg_database(postgres_server) as database:
        yield database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.servers)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty database of each kind (PostgreSQL: the module's, emptied first)."""
    if request.param == "postgresql":
        database: Database = request.getfixturevalue("pg_database")
        TaskStore(database).delete_all()
        yield database
        return
    database = Database(f"sqlite:///{tmp_path / 'corehub.db'}")
    upgrade(database)
    yield database
    database.dispose()
