"""Raw Celery, configured like corehub's engine, as the baseline of `bench.throughput`.

Two tasks, `noop` and `sleep`, no result backend, acks_late, prefetch 1. Each task counts
its completion after running: a Redis INCR (`BENCH_RAW_COUNTER_URL`, key `COUNTER_KEY`) in
a worker process, or an in-process counter for the embedded (in-memory broker) run.

    celery -A bench.raw_celery worker --pool prefork --concurrency 2   # BENCH_RAW_BROKER_URL
    python -m bench.raw_celery embedded --task noop --count 1000       # prints JSON
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from celery import Celery

COUNTER_KEY = "bench:raw:done"
POLL = 0.05

Counter = Callable[[], None]


class _RedisCounter:
    """INCR on the counter key; one connection per process, opened after the fork."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._client: redis.Redis | None = None
        self._pid = 0

    def __call__(self) -> None:
        if self._client is None or self._pid != os.getpid():
            self._client = redis.Redis.from_url(self.url)
            self._pid = os.getpid()
        self._client.incr(COUNTER_KEY)


class LocalCounter:
    """A thread-safe in-process completion counter."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0

    def __call__(self) -> None:
        with self._lock:
            self.value += 1


def make_app(broker_url: str, counter: Counter | None = None) -> Celery:
    """A Celery app with corehub's delivery settings and the two benchmark tasks."""
    app = Celery("bench_raw", broker=broker_url, set_as_current=False)
    options: dict[str, Any] = {}
    if broker_url.startswith("memory://"):
        options["polling_interval"] = 0.005  # kombu's memory transport polls; 5 ms is brisk
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_store_errors_even_if_ignored=False,
        task_serializer="json",
        accept_content=["json"],
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options=options,
        enable_utc=True,
    )
    done = counter

    @app.task(name="noop", shared=False)  # type: ignore[untyped-decorator]
    def noop() -> None:
        if done is not None:
            done()

    @app.task(name="sleep", shared=False)  # type: ignore[untyped-decorator]
    def sleep(seconds: float = 1.0) -> None:
        time.sleep(seconds)
        if done is not None:
            done()

    return app


def publish(app: Celery, task: str, count: int, kwargs: dict[str, Any]) -> None:
    """Send `count` messages through one reused producer (a plain client's fast path)."""
    with app.producer_or_acquire() as producer:
        for _ in range(count):
            app.send_task(task, kwargs=kwargs, producer=producer)


def _worker_app() -> Celery:
    """The app `celery -A bench.raw_celery worker` loads, configured from the environment."""
    counter_url = os.environ.get("BENCH_RAW_COUNTER_URL")
    counter = _RedisCounter(counter_url) if counter_url else None
    return make_app(os.environ.get("BENCH_RAW_BROKER_URL", "memory://localhost/"), counter)


app = _worker_app()


def embedded(
    task: str, count: int, kwargs: dict[str, Any], concurrency: int, timeout: float
) -> float:
    """In one process, like `corehub up`: a threads-pool worker on the in-memory broker.

    Returns seconds from the first send until `count` completions were counted.
    """
    from celery.app.trace import setup_worker_optimizations
    from celery.worker import WorkController
    from celery.worker import state as worker_state

    counter = LocalCounter()
    local = make_app("memory://localhost/", counter)
    local.finalize()
    hostname = "bench-raw@localhost"
    setup_worker_optimizations(local, hostname)
    controller = WorkController(
        app=local,
        hostname=hostname,
        pool_cls="threads",
        concurrency=concurrency,
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
        loglevel="WARNING",
    )
    thread = threading.Thread(target=controller.start, name="bench-raw-worker", daemon=True)
    worker_state.should_stop = None
    worker_state.should_terminate = None
    thread.start()
    # Warm up (not timed): the consumer is up and the pool has run a task.
    publish(local, "noop", 1, {})
    deadline = time.monotonic() + 30
    while counter.value < 1:
        if time.monotonic() > deadline:
            raise RuntimeError("the embedded raw Celery worker did not start in 30s")
        time.sleep(0.01)
    start = time.perf_counter()
    publish(local, task, count, kwargs)
    deadline = time.monotonic() + timeout
    while counter.value < count + 1:
        if time.monotonic() > deadline:
            raise RuntimeError(f"raw Celery: {counter.value - 1}/{count} done after {timeout}s")
        time.sleep(POLL)
    elapsed = time.perf_counter() - start
    worker_state.should_stop = 0
    controller.stop(in_sighandler=False, exitcode=0)
    thread.join(5)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    emb = sub.add_parser("embedded", help="time COUNT tasks on an in-process worker")
    emb.add_argument("--task", choices=["noop", "sleep"], default="noop")
    emb.add_argument("--count", type=int, default=1000)
    emb.add_argument("--seconds", type=float, default=0.001, help="sleep task's duration")
    emb.add_argument("--concurrency", type=int, default=4)
    emb.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    kwargs = {"seconds": args.seconds} if args.task == "sleep" else {}
    elapsed = embedded(args.task, args.count, kwargs, args.concurrency, args.timeout)
    print(json.dumps({"task": args.task, "count": args.count, "elapsed": elapsed}), flush=True)
    os._exit(0)  # no waiting on pool threads at interpreter exit


if __name__ == "__main__":
    main()
