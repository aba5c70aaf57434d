"""A leader lease in SQL: one holder at a time, and an epoch that fences a paused old one.

The holder renews before the lease expires. Anyone may take an expired lease, which bumps
the epoch; every write a leader makes carries `fenced_by(fence)`, so a leader that wakes up
after losing its lease changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, case, exists, select, update

from corehub.store.database import Database
from corehub.store.models import leases_table as ll
from corehub.store.sql import insert_if_absent

EPOCH_ZERO = datetime.fromisoformat("1970-01-01T00:00:00+00:00")


@dataclass(frozen=True, slots=True)
class Fence:
    """Proof of leadership for one epoch; writes that carry it fail once it is stale."""

    name: str
    holder: str
    epoch: int


@dataclass(frozen=True, slots=True)
class LeaseState:
    holder: str | None
    epoch: int
    expires_at: datetime
    live: bool


class LeaderLeases:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._known_roles: set[str] = set()

    def acquire(self, name: str, holder: str, ttl: timedelta) -> Fence | None:
        """Take or renew the lease; None while someone else holds a live one."""
        now = self.db.now()
        with self.db.write() as conn:
            if name not in self._known_roles:  # the row is made once, not on every renewal
                row_zero = {"name": name, "holder": None, "epoch": 0, "expires_at": EPOCH_ZERO}
                conn.execute(insert_if_absent(self.db.dialect, ll, row_zero, "name"))
            row = conn.execute(
                update(ll)
                .where(ll.c.name == name)
                .where((ll.c.holder == holder) | (ll.c.expires_at <= now))
                .values(
                    epoch=case((ll.c.holder == holder, ll.c.epoch), else_=ll.c.epoch + 1),
                    holder=holder,
                    expires_at=now + ttl,
                    renewed_at=now,
                )
                .returning(ll.c.epoch)
            ).first()
        self._known_roles.add(name)  # only once committed
        return None if row is None else Fence(name, holder, int(row.epoch))

    def release(self, fence: Fence) -> None:
        """Give the lease up at once (a clean stop), so another takes over without waiting."""
        with self.db.write() as conn:
            conn.execute(
                update(ll)
                .where(
                    ll.c.name == fence.name, ll.c.holder == fence.holder, ll.c.epoch == fence.epoch
                )
                .values(expires_at=self.db.now())
            )

    def state(self, name: str) -> LeaseState | None:
        live = (ll.c.expires_at > self.db.now()).label("live")
        with self.db.read() as conn:
            row = conn.execute(select(ll, live).where(ll.c.name == name)).first()
        if row is None:
            return None
        return LeaseState(row.holder, int(row.epoch), row.expires_at, bool(row.live))


def fenced_by(db: Database, fence: Fence | None) -> ColumnElement[bool]:
    """A condition true only while `fence` is the live lease (always true without a fence)."""
    if fence is None:
        return and_(True)
    return exists().where(
        ll.c.name == fence.name,
        ll.c.holder == fence.holder,
        ll.c.epoch == fence.epoch,
        ll.c.expires_at > db.now(),
    )
