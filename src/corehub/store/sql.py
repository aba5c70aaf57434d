"""Small SQL forms that differ by dialect."""

from __future__ import annotations

import sqlite3
from collections import namedtuple
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

import psycopg
from psycopg import sql as pgsql
from psycopg.rows import namedtuple_row
from sqlalchemy import Connection, Dialect, Table, bindparam, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError


def insert_if_absent(
    dialect: str, table: Table, row: dict[str, Any], key: str | Sequence[str]
) -> Any:
    """`INSERT … ON CONFLICT (key) DO NOTHING` in the dialect at hand; `key` is a column or
    the columns of a composite unique constraint."""
    module: Any = postgresql if dialect == "postgresql" else sqlite
    columns = [key] if isinstance(key, str) else list(key)
    return module.insert(table).values(**row).on_conflict_do_nothing(index_elements=columns)


@cache
def driver_insert(table: Table, columns: tuple[str, ...], dialect: Dialect) -> DriverInsert:
    """`INSERT INTO table (columns) VALUES (…)`, each value bound through its column's type,
    compiled once per table, columns and dialect."""
    return DriverInsert(table, columns, dialect)


def clock_value(conn: Connection, now: Any) -> datetime:
    """`now` (`Database.now()`: a value on SQLite, the database's clock as SQL on PostgreSQL)
    as a value, for rows stamped in Python: one round trip on PostgreSQL."""
    if isinstance(now, datetime):
        return now
    moment: datetime = _clock(conn.dialect).first(conn, {}).now
    return moment.astimezone(UTC)


@cache
def _clock(dialect: Dialect) -> DriverStatement:
    """What `Database.now()` is on PostgreSQL, read (run on the driver: a submit's commit
    reads it once)."""
    return DriverStatement(select(func.statement_timestamp().label("now")), dialect)


class DriverStatement:
    """A hot statement compiled once and run on the driver's own connection.

    SQLAlchemy's per-call execution context (parameter processing, cursor and result
    wrappers, event dispatch) costs about 0.15 ms of Python per statement, and the worker's
    claim and finish are two statements per task on PostgreSQL and four on SQLite. Errors
    are wrapped as SQLAlchemy wraps them, so callers handle an outage the one way they do.

    Parameters go through their types' own bind processors, as SQLAlchemy would run them
    (JSON wrapped for psycopg, times made UTC). On PostgreSQL psycopg prepares the statement
    on the server and returns typed rows; on SQLite returned columns go through their types'
    result processors too.
    """

    def __init__(self, statement: Any, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        binds = {compiled.bind_names[bind]: bind for bind in compiled.binds.values()}
        # The statement's literals by the names the SQL renders them with; the rest None.
        self.defaults = {
            name: None if bind.required else bind.effective_value for name, bind in binds.items()
        }
        processors = {
            name: bind.type.dialect_impl(dialect).bind_processor(dialect)
            for name, bind in binds.items()
        }
        self.processors = {name: p for name, p in processors.items() if p is not None}
        self.sqlite = dialect.name == "sqlite"
        self.positions: list[str] = []
        self.row: Any = None
        self.readers: list[Any] = []
        if self.sqlite:
            self.positions = list(compiled.positiontup or [])
            columns = list(statement.exported_columns)
            self.row = namedtuple("Row", [c.key for c in columns]) if columns else None
            self.readers = [
                c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns
            ]

    def _bound(self, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each row's parameters with the statement's literals, through their types' bind
        processors. A value the rows share (a batch's one timestamp, a common default) is
        processed once: binding a UTC time for SQLite costs about 10 µs."""
        bound = [{**self.defaults, **row} for row in rows]
        for name, process in self.processors.items():
            last_in: Any = None
            last_out: Any = None
            for values in bound:
                value = values[name]
                if value is None:
                    continue
                if value is not last_in:
                    last_in, last_out = value, process(value)
                values[name] = last_out
        return bound

    def first(self, conn: Connection, params: dict[str, Any]) -> Any:
        """The first row (attribute access by column name), or None."""
        values = self._bound((params,))[0]
        raw: Any = conn.connection.driver_connection
        if self.sqlite:
            return self._first_on_sqlite(raw, [values[name] for name in self.positions])
        try:
            with raw.cursor(row_factory=namedtuple_row) as cursor:
                return cursor.execute(self.sql, values, prepare=True).fetchone()
        except psycopg.Error as exc:
            raise DBAPIError.instance(self.sql, values, exc, psycopg.Error) from exc

    def _first_on_sqlite(self, raw: sqlite3.Connection, args: list[Any]) -> Any:
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


# Up to this many rows an INSERT goes to PostgreSQL in one round trip (prepared for one row,
# psycopg's pipelined executemany for more); COPY takes two (its start, then the data), which
# a submit and a step handoff feel, but spends less Python per row. In the caller's
# transaction, as every caller is: on an autocommit connection several rows would not be
# atomic.
FEW_ROWS = 8


class DriverInsert(DriverStatement):
    """A plain INSERT that also inserts many rows in one driver call: on PostgreSQL the
    INSERT for a few rows, COPY for more, where psycopg's pipelined executemany
    spent about twice the Python per row (a 200-task bulk submit's rows and events: 0.05
    against 0.09-0.11 ms of CPU per task); executemany on SQLite, whose loop runs in C."""

    def __init__(self, table: Table, columns: Sequence[str], dialect: Dialect) -> None:
        values = {c: bindparam(c, type_=table.c[c].type) for c in columns}
        super().__init__(insert(table).values(values), dialect)
        self.columns = list(columns)
        self.copy = pgsql.SQL("COPY {} ({}) FROM STDIN").format(
            pgsql.Identifier(table.name), pgsql.SQL(", ").join(map(pgsql.Identifier, columns))
        )

    def many(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
        """Insert the rows. Returns nothing: a bulk insert knows its rows."""
        bound = self._bound(rows)
        raw: Any = conn.connection.driver_connection
        if self.sqlite:
            args = [[values[name] for name in self.positions] for values in bound]
            try:
                raw.executemany(self.sql, args)
            except sqlite3.Error as exc:
                raise DBAPIError.instance(self.sql, args, exc, sqlite3.Error) from exc
            return
        try:
            with raw.cursor() as cursor:
                if len(bound) == 1:
                    cursor.execute(self.sql, bound[0], prepare=True)
                elif len(bound) <= FEW_ROWS:
                    cursor.executemany(self.sql, bound)  # pipelined: one round trip
                else:
                    with cursor.copy(self.copy) as copy:
                        for values in bound:
                            copy.write_row([values[c] for c in self.columns])
        except psycopg.Error as exc:
            raise DBAPIError.instance(self.sql, bound, exc, psycopg.Error) from exc
