"""End-to-end throughput: corehub beside raw Celery on the same broker, pool and concurrency.

Per mode, a batch of no-op tasks and a batch of tasks that sleep 1 ms, submitted in bulk; the
clock runs from the first submit until every task is finished and recorded: for corehub,
terminal in the database (counted there, by task name, on a fresh database per mode); for raw
Celery (no result backend), counted by a Redis INCR per task (an in-process counter for the
in-memory broker). Raw and corehub runs are interleaved (raw noop, corehub noop, raw sleep,
corehub sleep) so machine drift hits both alike.

Modes: `embedded` (`corehub up`: threads pool, concurrency 4, in-memory broker, SQLite)
beside one raw Celery process alike; `sqlite+redis`, `postgres+redis`, `postgres+rabbitmq`
(`corehub api` + `scheduler` + one `worker --pool prefork --concurrency 2`, PostgreSQL with
fsync on) beside `celery worker --pool prefork --concurrency 2`.

    python -m bench.throughput                           # 20,000 no-op + 5,000 sleep 1 ms
    python -m bench.throughput --noop 300 --sleepy 100 --modes embedded postgres+redis
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import redis
import sqlalchemy as sa
from tests.harness.servers import PostgresServer, RabbitMQServer, RedisServer, ensure_packages
from tests.integration.hubs import Hub, HubProcess, embedded_hub, split_hub

from bench import raw_celery
from bench.stats import markdown, save
from corehub.client import Client
from corehub.schemas import RunTaskRequest
from corehub.store.models import UNFINISHED_ROWS, tasks_table

MODES = ("embedded", "sqlite+redis", "postgres+redis", "postgres+rabbitmq")
REPO = Path(__file__).resolve().parent.parent
CHUNK = 1_000  # tasks per POST /tasks/bulk
POLL = 0.05  # seconds between completion checks, both sides
STALL = 120.0  # seconds without one more finished task before giving up
PROGRESS_EVERY = 2.0  # seconds between counts of a corehub batch's unfinished tasks
WARMUP = 20  # untimed no-op tasks per side and mode
SLEEP_SECONDS = 0.001
SPLIT_CONCURRENCY = 2
EMBEDDED_CONCURRENCY = 4  # corehub's worker.concurrency default, used by `corehub up`
# The scheduler's defaults (the test harness's base_env shortens them).
HUB_ENV = {
    "COREHUB_SCHEDULER__TICK_SECONDS": "0.5",
    "COREHUB_SCHEDULER__RELAY_GRACE_SECONDS": "2",
    "COREHUB_LOGGING__LEVEL": "WARNING",
}


@dataclass(frozen=True)
class Workload:
    measure: str
    task: str  # corehub's name; raw Celery's is the part after the dot
    count: int
    kwargs: dict[str, Any]

    @property
    def raw_task(self) -> str:
        return self.task.split(".", 1)[1]


def workloads(noop: int, sleepy: int) -> list[Workload]:
    out = []
    if noop > 0:
        out.append(Workload(f"noop x{noop}", "core.noop", noop, {}))
    if sleepy > 0:
        seconds = {"seconds": SLEEP_SECONDS}
        out.append(Workload(f"sleep 1ms x{sleepy}", "core.sleep", sleepy, seconds))
    return out


# --------------------------------------------------------------------------- waiting


def wait_count(read: Callable[[], int], target: int, what: str, logs: Callable[[], str]) -> float:
    """Poll `read` until it reaches `target`; return the perf_counter time it was seen.

    Fails when no progress was made for STALL seconds, with the processes' log tails.
    """
    last, last_change = -1, time.monotonic()
    while True:
        now = read()
        if now >= target:
            return time.perf_counter()
        if now != last:
            last, last_change = now, time.monotonic()
        elif time.monotonic() - last_change > STALL:
            raise RuntimeError(f"{what}: stuck at {now}/{target} for {STALL:.0f}s\n{logs()}")
        time.sleep(POLL)


# --------------------------------------------------------------------------- corehub side


class TaskCounter:
    """Tasks in the hub's database, read directly in SQL.

    The poll asks only whether any task is left to run: the first live entry of the partial
    index that holds just those rows. Counting them instead walked the whole backlog 20
    times a second and took about a fifth of PostgreSQL's CPU from the hub (0.69 against
    0.54 ms per task), which the raw side's Redis counter does not take from Celery. The
    count runs every PROGRESS_EVERY seconds, for the stall check.
    """

    QUERY = sa.text("SELECT status, count(*) FROM tasks WHERE name = :name GROUP BY status")
    UNFINISHED = (
        sa.select(sa.func.count())
        .select_from(tasks_table)
        .where(tasks_table.c.name == sa.bindparam("name"), UNFINISHED_ROWS)
    )
    # The batch is the only work on its mode's database, so any task left is one of it.
    # Newest first: the oldest entries are of finished tasks (dead until a vacuum), and a
    # walk over them from the old end took 12 ms a poll after 80,000 tasks on PostgreSQL.
    ANY_UNFINISHED = (
        sa.select(tasks_table.c.id)
        .where(UNFINISHED_ROWS)
        .order_by(tasks_table.c.created_at.desc(), tasks_table.c.id.desc())
        .limit(1)
    )

    def __init__(self, db_url: str) -> None:
        url = db_url.replace("postgresql://", "postgresql+psycopg://", 1)
        self.engine = sa.create_engine(url, pool_size=1, max_overflow=0)

    def statuses(self, name: str) -> dict[str, int]:
        try:
            with self.engine.connect() as conn:
                return {str(s): int(n) for s, n in conn.execute(self.QUERY, {"name": name})}
        except sa.exc.OperationalError as exc:  # SQLite: the table may not exist yet
            if "no such table" in str(exc):
                return {}
            raise

    def unfinished(self, name: str) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(self.UNFINISHED, {"name": name}).scalar_one())

    def any_unfinished(self) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(self.ANY_UNFINISHED).first() is not None

    def finished_reader(self, name: str, count: int) -> Callable[[], int]:
        """How many of a batch of `count` tasks of `name` are finished, for `wait_count`:
        exact once none is left, else as last counted (at most every PROGRESS_EVERY s)."""
        done, counted_at = 0, -PROGRESS_EVERY

        def read() -> int:
            nonlocal done, counted_at
            if not self.any_unfinished():
                return count
            if time.monotonic() - counted_at >= PROGRESS_EVERY:
                done, counted_at = count - self.unfinished(name), time.monotonic()
            return min(done, count - 1)

        return read

    def close(self) -> None:
        self.engine.dispose()


def corehub_run(hub: Hub, counter: TaskCounter, work: Workload) -> float:
    """Seconds from the first bulk submit until the batch is terminal in the database."""
    before = counter.statuses(work.task)
    request = RunTaskRequest(task_name=work.task, kwargs=work.kwargs)
    with Client(hub.url, timeout=60) as client:
        start = time.perf_counter()
        for offset in range(0, work.count, CHUNK):
            client.run_many([request] * min(CHUNK, work.count - offset))
        # Every submit has committed, and earlier batches are finished: what is left to run
        # is this batch's.
        end = wait_count(
            counter.finished_reader(work.task, work.count),
            work.count,
            f"corehub {hub.mode} {work.measure}",
            hub.logs,
        )
    after = counter.statuses(work.task)
    failed = {s: n - before.get(s, 0) for s, n in after.items() if s != "success"}
    succeeded = after.get("success", 0) - before.get("success", 0)
    if succeeded != work.count:
        raise RuntimeError(f"corehub {work.measure}: {succeeded} succeeded, others: {failed}")
    return end - start


# --------------------------------------------------------------------------- raw Celery side


class RawSplit:
    """`celery -A bench.raw_celery worker` on a broker; completions counted in Redis."""

    def __init__(self, workdir: Path, broker_url: str, counter_url: str) -> None:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("COREHUB_")},
            "PYTHONPATH": str(REPO),
            "PYTHONUNBUFFERED": "1",
            "BENCH_RAW_BROKER_URL": broker_url,
            "BENCH_RAW_COUNTER_URL": counter_url,
        }
        argv = [sys.executable, "-m", "celery", "-A", "bench.raw_celery", "worker"]
        argv += ["--pool", "prefork", "--concurrency", str(SPLIT_CONCURRENCY)]
        argv += ["--loglevel", "WARNING", "--without-gossip", "--without-mingle"]
        self.worker = HubProcess("raw-worker", argv, env, workdir)
        self.app = raw_celery.make_app(broker_url)
        self.redis = redis.Redis.from_url(counter_url)

    def count(self) -> int:
        return int(self.redis.get(raw_celery.COUNTER_KEY) or 0)

    def logs(self) -> str:
        return f"--- {self.worker.name}\n{self.worker.tail()}"

    def start(self) -> None:
        self.worker.start()
        self.run(Workload("warm-up", "core.noop", WARMUP, {}))

    def run(self, work: Workload) -> float:
        self.redis.set(raw_celery.COUNTER_KEY, 0)
        start = time.perf_counter()
        raw_celery.publish(self.app, work.raw_task, work.count, work.kwargs)
        end = wait_count(self.count, work.count, f"raw Celery {work.measure}", self.logs)
        return end - start

    def stop(self) -> None:
        self.worker.stop()
        self.app.close()
        self.redis.close()


def raw_embedded_run(work: Workload) -> float:
    """One process: an in-memory broker and a threads-pool worker (bench.raw_celery)."""
    argv = [sys.executable, "-m", "bench.raw_celery", "embedded", "--task", work.raw_task]
    argv += ["--count", str(work.count), "--concurrency", str(EMBEDDED_CONCURRENCY)]
    argv += ["--seconds", str(SLEEP_SECONDS), "--timeout", str(STALL + work.count / 20)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    try:
        res = subprocess.run(
            argv, cwd=REPO, env=env, capture_output=True, text=True,
            timeout=STALL + 30 + work.count / 20, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"raw Celery embedded {work.measure}: timed out") from exc
    if res.returncode != 0:
        raise RuntimeError(f"raw Celery embedded {work.measure} failed:\n{res.stderr[-3000:]}")
    return float(json.loads(res.stdout.strip().splitlines()[-1])["elapsed"])


# --------------------------------------------------------------------------- servers and modes


_S = TypeVar("_S", RedisServer, PostgresServer, RabbitMQServer)


@dataclass
class Servers:
    """Real servers, each started the first time a mode needs it, all stopped at the end."""

    root: Path
    started: list[RedisServer | PostgresServer | RabbitMQServer] = field(default_factory=list)
    _redis: RedisServer | None = None
    _postgres: PostgresServer | None = None
    _rabbit: RabbitMQServer | None = None
    _redis_db: int = 0  # db 0 holds the raw side's counter

    def redis(self) -> RedisServer:
        if self._redis is None:
            self._redis = self._start(RedisServer(self.root / "redis"))
        return self._redis

    def redis_db(self) -> str:
        """A Redis database of its own (broker namespace) for one side of one mode."""
        self._redis_db += 1
        return self.redis().url_for_db(self._redis_db % 16)

    def postgres(self) -> PostgresServer:
        if self._postgres is None:
            self._postgres = self._start(PostgresServer(self.root / "postgres", durable=True))
        return self._postgres

    def rabbit(self) -> RabbitMQServer:
        if self._rabbit is None:
            self._rabbit = self._start(RabbitMQServer(self.root / "rabbitmq"))
        return self._rabbit

    def _start(self, server: _S) -> _S:
        ensure_packages()
        self.started.append(server)
        server.start()
        return server

    def stop(self) -> None:
        for server in reversed(self.started):
            with contextlib.suppress(Exception):
                server.stop()


@dataclass
class Mode:
    """One mode's corehub hub and raw Celery baseline (None: the embedded subprocess)."""

    hub: Hub
    db_url: str
    raw: RawSplit | None


def build_mode(
    mode: str, servers: Servers, workdir: Path, env: Mapping[str, str] | None = None
) -> Mode:
    workdir.mkdir(parents=True)
    env = {**HUB_ENV, **(env or {})}
    if mode == "embedded":
        hub = embedded_hub(workdir)
        hub.env.update(env)
        return Mode(hub, f"sqlite:///{workdir / 'data' / 'corehub.db'}", None)
    slug = mode.replace("+", "_")
    if mode == "sqlite+redis":
        db_url = f"sqlite:///{workdir / 'hub.db'}"
    elif mode.startswith("postgres+"):
        db_url = servers.postgres().create_database(f"bench_{slug}")
    else:
        raise ValueError(f"unknown mode {mode!r} (one of {', '.join(MODES)})")
    counter_url = servers.redis().url_for_db(0)
    if mode.endswith("+rabbitmq"):
        broker = servers.rabbit().add_vhost(f"corehub-{slug}")
        raw_broker = servers.rabbit().add_vhost(f"raw-{slug}")
    else:
        broker, raw_broker = servers.redis_db(), servers.redis_db()
    hub = split_hub(workdir, db_url, broker, workers=1, concurrency=SPLIT_CONCURRENCY, env=env)
    return Mode(hub, db_url, RawSplit(workdir, raw_broker, counter_url))


@contextlib.contextmanager
def running(mode: Mode) -> Iterator[TaskCounter]:
    counter = TaskCounter(mode.db_url)
    try:
        mode.hub.start()
        if mode.raw is not None:
            mode.raw.start()
        warm = Workload("warm-up", "core.noop", WARMUP, {})
        corehub_run(mode.hub, counter, warm)
        yield counter
    finally:
        if mode.raw is not None:
            mode.raw.stop()
        mode.hub.stop()
        counter.close()


def measure(
    noop: int = 20_000,
    sleepy: int = 5_000,
    modes: Sequence[str] = MODES,
    repeat: int = 1,
    settings: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Rows of corehub tasks/s beside raw Celery's, per mode and workload; `settings` are
    corehub settings by dotted name (`database.async_claim_commit`) for every hub.

    With `repeat` > 1 each workload runs that many times, raw and corehub alternating; a row
    holds the medians, and the ratio is the median of each repetition's own ratio (a pair
    run back to back shares the machine's drift), with the lowest and highest beside it.
    """
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise ValueError(f"unknown modes {unknown} (choose from {', '.join(MODES)})")
    root = Path(tempfile.mkdtemp(prefix="corehub-throughput-", dir="/tmp"))
    root.chmod(0o755)  # postgres and rabbitmq run as their own users
    servers = Servers(root / "servers")
    servers.root.mkdir()
    servers.root.chmod(0o755)
    rows: list[dict[str, Any]] = []
    try:
        for mode in modes:
            workdir = root / mode.replace("+", "-")
            setup = build_mode(mode, servers, workdir, setting_env(settings or {}))
            with running(setup) as counter:
                for work in workloads(noop, sleepy):
                    pairs = []
                    for _ in range(repeat):
                        raw_s = raw_embedded_run(work) if setup.raw is None else setup.raw.run(work)
                        pairs.append((raw_s, corehub_run(setup.hub, counter, work)))
                    rows.append(_row(mode, work, pairs))
                    print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    finally:
        servers.stop()
        shutil.rmtree(root, ignore_errors=True)
    return rows


def _row(mode: str, work: Workload, pairs: Sequence[tuple[float, float]]) -> dict[str, Any]:
    """One workload's row from its (raw seconds, corehub seconds) repetitions."""
    raw = [work.count / raw_s for raw_s, _ in pairs]
    core = [work.count / core_s for _, core_s in pairs]
    ratios = [c / r for r, c in zip(raw, core, strict=True)]
    row: dict[str, Any] = {
        "section": "throughput",
        "mode": mode,
        "measure": work.measure,
        "value": round(statistics.median(core), 1),
        "unit": "tasks/s",
        "baseline": round(statistics.median(raw), 1),
        "ratio": round(statistics.median(ratios), 3),
        "corehub_s": [round(core_s, 3) for _, core_s in pairs],
        "raw_s": [round(raw_s, 3) for raw_s, _ in pairs],
    }
    if len(pairs) > 1:
        row["ratio_range"] = [round(min(ratios), 3), round(max(ratios), 3)]
    return row


def setting_env(settings: Mapping[str, str]) -> dict[str, str]:
    """Dotted setting names as the environment variables corehub reads them from."""
    return {f"COREHUB_{name.upper().replace('.', '__')}": v for name, v in settings.items()}


def parse_setting(text: str) -> tuple[str, str]:
    """`--set name=value` into its two halves."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected name=value, got {text!r}")
    return name, value


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--noop", type=int, default=20_000, help="no-op tasks per mode")
    parser.add_argument("--sleepy", type=int, default=5_000, help="1 ms sleep tasks per mode")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per workload; rows hold the medians"
    )
    parser.add_argument(
        "--set",
        type=parse_setting,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a corehub setting for every hub, by dotted name (repeatable): "
        "--set database.async_claim_commit=false",
    )
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    settings = dict(args.set)
    rows = measure(args.noop, args.sleepy, args.modes, args.repeat, settings)
    columns = ["mode", "measure", "value", "unit", "baseline", "ratio"]
    print(markdown(rows, columns))
    params = {"noop": args.noop, "sleepy": args.sleepy, "modes": args.modes}
    params["repeat"] = args.repeat
    params["settings"] = settings
    print(f"results: {save('throughput', {**params, 'rows': rows})}")


if __name__ == "__main__":
    main()
