"""Engines and units of work for SQLite and PostgreSQL: the only place connections are made."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Engine, create_engine, event, func, make_url, select
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.sql.elements import ColumnElement

from corehub import jsoncodec
from corehub.errors import ConfigError, Unavailable
from corehub.store.group_commit import GroupCommit

R = TypeVar("R")


# JSON columns use the codec every other boundary uses, so what passed `jsoncodec.dumps`
# (API bodies, task arguments, results) is exactly what the database can store.
def _json_from_column(value: Any) -> Any:
    """SQLite gives a JSON column NUMERIC affinity: a stored number comes back as a number."""
    return jsoncodec.loads(value) if isinstance(value, str | bytes) else value


JSON_CODEC: dict[str, Any] = {
    "json_serializer": jsoncodec.dumps_str,
    "json_deserializer": _json_from_column,
}


def normalize_url(raw: str) -> URL:
    """Accept the URLs people write (`postgresql://`, `postgres://`) and pick psycopg 3."""
    try:
        url = make_url(raw.replace("postgres://", "postgresql://", 1))
    except Exception:
        raise ConfigError([f"database.url [COREHUB_DATABASE__URL]: not a URL: {raw!r}"]) from None
    if url.drivername in ("postgresql", "postgresql+psycopg2"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(
            [f"database.url [COREHUB_DATABASE__URL]: unsupported database {url.drivername!r}"]
        )
    return url


@contextmanager
def outage_as_unavailable(*, reason: bool = False) -> Iterator[None]:
    """A database that cannot be reached (or stays locked) is `Unavailable` to callers: a 503
    for the API, a requeue for the worker, never a traceback. It names the driver's error;
    with `reason`, the driver's message too, on one line, for whoever runs a process or a
    command (not for API clients: it names hosts and ports)."""
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        cause = type(exc.orig).__name__ if exc.orig is not None else type(exc).__name__
        if reason:
            cause = " ".join(str(exc.orig or exc).split())
        raise Unavailable(f"the database is unavailable ({cause})") from exc


class Database:
    """One engine per process; `write()` and `read()` are the units of work."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 5,
        busy_timeout_ms: int = 5000,
        sqlite_synchronous: str = "FULL",
        async_claim_commit: bool = False,
    ) -> None:
        self.url = normalize_url(url)
        self.dialect = self.url.get_backend_name()
        self._pid = os.getpid()
        self._sqlite_write_lock = threading.Lock()
        self._kept = threading.local()
        if self.dialect == "sqlite":
            self.engine = self._sqlite_engine(busy_timeout_ms, sqlite_synchronous)
        else:
            self.engine = self._postgres_engine(pool_size)
        self._writer = self.engine.execution_options(corehub_write=True)
        self._group: GroupCommit[Callable[[Connection], Any], Any] = GroupCommit(self._write_group)
        self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        # PostgreSQL sessions whose commits return before their WAL is flushed, for the
        # writes that may be lost in a crash (`autocommit(flushed=False)`). An engine of their
        # own, so that such a session never goes back to the pool the durable writes use.
        self._engines = [self.engine]
        self._unflushed: Engine = self._autocommit
        if async_claim_commit and not self.is_sqlite:
            self._unflushed = self._postgres_engine(
                pool_size,
                connect_args={"options": "-c synchronous_commit=off"},
                isolation_level="AUTOCOMMIT",
            )
            self._engines.append(self._unflushed)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def _postgres_engine(self, pool_size: int, **options: Any) -> Engine:
        return create_engine(
            self.url,
            pool_size=pool_size,
            max_overflow=pool_size * 2,
            pool_pre_ping=True,
            **JSON_CODEC,
            **options,
        )

    def _sqlite_engine(self, busy_timeout_ms: int, synchronous: str) -> Engine:
        path = self.url.database
        if path and path != ":memory:":
            Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            self.url,
            connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
            **JSON_CODEC,
        )

        @event.listens_for(engine, "connect")
        def _configure(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy, not the driver, decide when transactions begin.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={synchronous}")
            cur.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            # A writer takes the lock up front so it waits on busy_timeout instead of
            # failing when a read transaction would have to upgrade.
            write = conn.get_execution_options().get("corehub_write", False)
            raw: Any = conn.connection.driver_connection
            begin = "BEGIN IMMEDIATE" if write else "BEGIN"
            try:
                raw.execute(begin)
            except sqlite3.Error as exc:  # "database is locked": wrapped like any statement's
                raise DBAPIError.instance(begin, (), exc, sqlite3.Error) from exc

        return engine

    def _check_fork(self) -> None:
        # Connections must never cross a fork (prefork pool children inherit the engine).
        if os.getpid() != self._pid:
            for engine in self._engines:
                engine.dispose(close=False)
            self._kept = threading.local()
            self._pid = os.getpid()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One transaction that commits on success and rolls back on error."""
        self._check_fork()
        if not self.is_sqlite:
            with outage_as_unavailable(), self._writer.begin() as conn:
                yield conn
            return
        # SQLite has one writer at a time. Threads of this process queue on a lock instead of
        # on SQLite's busy handler, whose growing sleeps collapse throughput under contention.
        with outage_as_unavailable(), self._sqlite_write_lock, self._writer.begin() as conn:
            yield conn

    def grouped(self, work: Callable[[Connection], R]) -> R:
        """`work` in a write transaction, on SQLite shared with other threads' concurrent
        ones: one commit (one fsync, one turn of the single writer) for all of them, each in
        a savepoint of its own so that one raising rolls back only itself. `work` must not
        open a transaction itself."""
        if not self.is_sqlite:
            with self.write() as conn:
                return work(conn)
        return cast(R, self._group.submit(work))

    def _write_group(self, works: Sequence[Callable[[Connection], Any]]) -> list[Any]:
        # The savepoints go to the driver: through SQLAlchemy (`begin_nested`) they cost as
        # much Python as the transitions they wrap.
        outcomes: list[Any] = []
        with self.write() as conn:
            raw: Any = conn.connection.driver_connection
            for work in works:
                raw.execute("SAVEPOINT corehub_work")
                try:
                    outcomes.append(work(conn))
                except Exception as exc:
                    raw.execute("ROLLBACK TO SAVEPOINT corehub_work")
                    outcomes.append(exc)
                raw.execute("RELEASE SAVEPOINT corehub_work")
        return outcomes

    @contextmanager
    def autocommit(self, *, flushed: bool = True) -> Iterator[Connection]:
        """This thread's kept autocommit connection, for single-statement transitions.

        Kept rather than checked out per call: a checkout costs a ping and a reset, which
        would double the round trips of the hot path. A failed connection is dropped and the
        next call opens a new one. `flushed=False` asks for one whose commits need not wait
        for the disk (PostgreSQL with `async_claim_commit`; the same connection otherwise).
        """
        self._check_fork()
        source = self._autocommit if flushed else self._unflushed
        slot = "flushed" if source is self._autocommit else "unflushed"
        with outage_as_unavailable():
            conn: Connection | None = getattr(self._kept, slot, None)
            if conn is None or conn.closed or conn.invalidated:
                conn = source.connect()
                setattr(self._kept, slot, conn)
            try:
                yield conn
            except DBAPIError:
                setattr(self._kept, slot, None)
                conn.invalidate()
                raise

    @contextmanager
    def read(self) -> Iterator[Connection]:
        self._check_fork()
        with outage_as_unavailable(), self.engine.connect() as conn:
            yield conn

    def now(self) -> datetime | ColumnElement[datetime]:
        """The database's clock. SQLite is a local file, so its clock is this host's."""
        if self.is_sqlite:
            return datetime.now(UTC)
        return func.statement_timestamp()

    def clock(self) -> datetime:
        """The database's clock read as a value, for arithmetic done in Python (a countdown's
        due time, a schedule's slots): one round trip on PostgreSQL."""
        if self.is_sqlite:
            return datetime.now(UTC)
        with self.read() as conn:
            moment: datetime = conn.execute(select(func.statement_timestamp())).scalar_one()
        return moment.astimezone(UTC)

    def ping(self) -> None:
        with self.read() as conn:
            conn.exec_driver_sql("SELECT 1")

    def dispose(self) -> None:
        for engine in self._engines:
            engine.dispose()
