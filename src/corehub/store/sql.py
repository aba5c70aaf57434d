"""Small SQL forms that differ by dialect."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy import Connection, Dialect, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from corehub import jsoncodec


def insert_if_absent(
    dialect: str, table: Table, row: dict[str, Any], key: str | Sequence[str]
) -> Any:
    """`INSERT … ON CONFLICT (key) DO NOTHING` in the dialect at hand; `key` is a column or
    the columns of a composite unique constraint."""
    module: Any = postgresql if dialect == "postgresql" else sqlite
    columns = [key] if isinstance(key, str) else list(key)
    return module.insert(table).values(**row).on_conflict_do_nothing(index_elements=columns)


class DriverStatement:
    """A hot statement compiled once for PostgreSQL and run on psycopg's own connection.

    SQLAlchemy's per-call execution context (parameter processing, cursor and result
    wrappers) costs about 0.15 ms of Python per statement, and the worker's claim and finish
    are two statements per task. psycopg prepares the statement on the server. Errors are
    wrapped as SQLAlchemy wraps them, so callers handle an outage the one way they do.
    """

    def __init__(self, statement: Any, dialect: Dialect, json_params: Sequence[str] = ()) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        # The statement's literals by the names the SQL renders them with; the rest None.
        self.defaults = {
            compiled.bind_names[bind]: None if bind.required else bind.effective_value
            for bind in compiled.binds.values()
        }
        self.json_params = tuple(json_params)

    def first(self, conn: Connection, params: dict[str, Any]) -> Any:
        """The first row (attribute access by column name), or None."""
        values = {**self.defaults, **params}
        for name in self.json_params:
            if values.get(name) is not None:
                values[name] = jsoncodec.dumps_str(values[name])
        raw: Any = conn.connection.driver_connection
        try:
            with raw.cursor(row_factory=namedtuple_row) as cursor:
                return cursor.execute(self.sql, values, prepare=True).fetchone()
        except psycopg.Error as exc:
            raise DBAPIError.instance(self.sql, values, exc, psycopg.Error) from exc
