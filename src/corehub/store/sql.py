"""Small SQL forms that differ by dialect."""

from __future__ import annotations

import sqlite3
from collections import namedtuple
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
    """A hot statement compiled once and run on the driver's own connection.

    SQLAlchemy's per-call execution context (parameter processing, cursor and result
    wrappers, event dispatch) costs about 0.15 ms of Python per statement, and the worker's
    claim and finish are two statements per task on PostgreSQL and four on SQLite. Errors
    are wrapped as SQLAlchemy wraps them, so callers handle an outage the one way they do.

    On PostgreSQL psycopg prepares the statement on the server; JSON parameters are named
    (`json_params`). On SQLite parameters and returned columns go through their types' own
    processors, as SQLAlchemy would run them.
    """

    def __init__(self, statement: Any, dialect: Dialect, json_params: Sequence[str] = ()) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        binds = {compiled.bind_names[bind]: bind for bind in compiled.binds.values()}
        # The statement's literals by the names the SQL renders them with; the rest None.
        self.defaults = {
            name: None if bind.required else bind.effective_value for name, bind in binds.items()
        }
        self.json_params = tuple(json_params)
        self.sqlite = dialect.name == "sqlite"
        self.positions: list[str] = []
        self.processors: dict[str, Any] = {}
        self.row: Any = None
        self.readers: list[Any] = []
        if self.sqlite:
            self.positions = list(compiled.positiontup or [])
            self.processors = {
                name: bind.type.dialect_impl(dialect).bind_processor(dialect)
                for name, bind in binds.items()
            }
            columns = list(statement.exported_columns)
            self.row = namedtuple("Row", [c.key for c in columns]) if columns else None
            self.readers = [
                c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns
            ]

    def first(self, conn: Connection, params: dict[str, Any]) -> Any:
        """The first row (attribute access by column name), or None."""
        values = {**self.defaults, **params}
        raw: Any = conn.connection.driver_connection
        if self.sqlite:
            return self._first_on_sqlite(raw, values)
        for name in self.json_params:
            if values.get(name) is not None:
                values[name] = jsoncodec.dumps_str(values[name])
        try:
            with raw.cursor(row_factory=namedtuple_row) as cursor:
                return cursor.execute(self.sql, values, prepare=True).fetchone()
        except psycopg.Error as exc:
            raise DBAPIError.instance(self.sql, values, exc, psycopg.Error) from exc

    def _first_on_sqlite(self, raw: sqlite3.Connection, values: dict[str, Any]) -> Any:
        args = []
        for name in self.positions:
            process = self.processors[name]
            args.append(values[name] if process is None else process(values[name]))
        try:
            cursor = raw.execute(self.sql, args)
            found = cursor.fetchone()
            cursor.close()
        except sqlite3.Error as exc:
            raise DBAPIError.instance(self.sql, args, exc, sqlite3.Error) from exc
        if found is None or self.row is None:
            return None
        return self.row(
            *(v if read is None else read(v) for read, v in zip(self.readers, found, strict=True))
        )
