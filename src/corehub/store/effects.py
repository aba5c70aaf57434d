"""A ledger of external effects by key, so a retried task can skip what already happened."""

from __future__ import annotations

from sqlalchemy import select

from corehub.store.database import Database
from corehub.store.models import effects_table as fx
from corehub.store.sql import insert_if_absent


class EffectLedger:
    def __init__(self, db: Database) -> None:
        self.db = db

    def done(self, key: str) -> bool:
        with self.db.read() as conn:
            return conn.execute(select(fx.c.key).where(fx.c.key == key)).first() is not None

    def record(self, key: str, task_id: str) -> bool:
        """True if this call recorded the effect, False if it was already recorded."""
        row = {"key": key, "task_id": task_id, "created_at": self.db.now()}
        with self.db.write() as conn:
            stmt = insert_if_absent(self.db.dialect, fx, row, "key").returning(fx.c.key)
            return conn.execute(stmt).first() is not None
