"""Small SQL forms that differ by dialect."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite


def insert_if_absent(
    dialect: str, table: Table, row: dict[str, Any], key: str | Sequence[str]
) -> Any:
    """`INSERT … ON CONFLICT (key) DO NOTHING` in the dialect at hand; `key` is a column or
    the columns of a composite unique constraint."""
    module: Any = postgresql if dialect == "postgresql" else sqlite
    columns = [key] if isinstance(key, str) else list(key)
    return module.insert(table).values(**row).on_conflict_do_nothing(index_elements=columns)
