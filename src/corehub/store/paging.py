"""Keyset pages, newest first on (created_at, id): the one way listings page."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, Table, and_, or_

from corehub.errors import InvalidInput

T = TypeVar("T")


def after_cursor(stmt: Select[Any], table: Table, cursor: str | None) -> Select[Any]:
    """`stmt` ordered newest first, starting after the row the cursor names."""
    stmt = stmt.order_by(table.c.created_at.desc(), table.c.id.desc())
    if not cursor:
        return stmt
    at, last_id = decode_cursor(cursor)
    return stmt.where(
        or_(table.c.created_at < at, and_(table.c.created_at == at, table.c.id < last_id))
    )


def page_of(
    rows: Sequence[Any], limit: int, convert: Callable[[Any], T]
) -> tuple[list[T], str | None]:
    """The first `limit` of `limit + 1` rows fetched, and the cursor of the next page."""
    items = [convert(r) for r in rows[:limit]]
    if len(rows) <= limit:
        return items, None
    last = rows[limit - 1]
    return items, encode_cursor(last.created_at, last.id)


def encode_cursor(at: datetime, task_id: str) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{task_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        at, task_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        moment = datetime.fromisoformat(at)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput(f"invalid cursor {cursor!r}") from None
    if moment.tzinfo is None:
        raise InvalidInput(f"invalid cursor {cursor!r}")
    return moment, task_id
