"""The long-running commands: the embedded hub and the split processes."""

from __future__ import annotations

import gc
import logging
import os
import signal
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from types import FrameType
from typing import Any

import uvicorn

from corehub.api import create_app
from corehub.cli.api_processes import STOP_SIGNALS, serve_forked
from corehub.config import Settings
from corehub.engine.embedded import EmbeddedWorker
from corehub.errors import ConfigError, Unavailable
from corehub.observability.logging import configure_logging
from corehub.runtime import Runtime, build_runtime
from corehub.scheduler import Scheduler

log = logging.getLogger("corehub")


def serve_embedded(settings: Settings, host: str, port: int) -> None:
    """API, worker threads and scheduler in one process, on SQLite and an in-process broker."""
    configure_logging(settings.logging)
    sock = _listen(host, port)
    rt = build_runtime(settings)
    worker = EmbeddedWorker(rt.celery, settings.worker.concurrency)
    scheduler = rt.scheduler()
    try:
        if settings.embedded_broker:
            _recover_embedded(rt)
        worker.start()
        scheduler.relay.drain(grace=timedelta(0))
        scheduler.start_thread()
        log.info(
            "corehub %s serving on http://%s:%d (database %s)",
            _version(),
            host,
            port,
            rt.db.url.render_as_string(hide_password=True),
        )
        _serve_http(rt, sock, on_stop=_stopper(worker, scheduler))
    finally:
        scheduler.stop()
        worker.stop()
        rt.close()
        log.info("corehub stopped")


def _stopper(worker: EmbeddedWorker, scheduler: Scheduler) -> Callable[[], None]:
    def stop() -> None:
        worker.request_stop()
        scheduler.request_stop()

    return stop


def _recover_embedded(rt: Runtime) -> None:
    """The in-process broker died with the last process: what it held is re-published."""
    orphans = rt.store.requeue_orphans("the hub restarted while this attempt ran")
    rt.store.forget_publications()
    if orphans:
        log.warning(
            "requeued %d tasks whose attempts were running when the hub stopped", len(orphans)
        )


def serve_api(settings: Settings, host: str, port: int, processes: int = 1) -> None:
    """The API alone; with `processes` > 1, that many forked processes on one socket."""
    _require_shared_broker(settings, "api")
    configure_logging(settings.logging)
    sock = _listen(host, port)
    if processes == 1:
        _serve_api_process(settings, sock)
        return
    log.info("corehub api on http://%s:%d: %d processes", host, port, processes)
    serve_forked(processes, lambda: _serve_api_process(settings, sock), sock)


def _serve_api_process(settings: Settings, sock: socket.socket) -> None:
    rt = build_runtime(settings)
    try:
        _serve_http(rt, sock)
    finally:
        rt.close()


def run_worker(
    settings: Settings,
    extra_args: list[str],
    *,
    concurrency: int | None,
    pool: str | None,
    queues: str | None,
    loglevel: str | None,
) -> None:
    _require_shared_broker(settings, "worker")
    configure_logging(settings.logging)
    rt = build_runtime(settings)
    argv = [
        "worker",
        f"--concurrency={concurrency or settings.worker.concurrency}",
        f"--pool={pool or settings.worker.pool}",
        f"--queues={queues or ','.join(rt.celery.context.queues())}",
        f"--loglevel={loglevel or settings.logging.level}",
        "--without-gossip",
        "--without-mingle",
        *_node_name(extra_args),
        *extra_args,
    ]
    _freeze_startup_heap()
    rt.celery.worker_main(argv)


def _node_name(extra_args: list[str]) -> list[str]:
    """A node name of this process's own unless given (`-n`/`--hostname`): two workers on one
    host would both be Celery's default `celery@host`, and its control replies (`inspect`)
    are merged by name."""
    if any(arg in ("-n", "--hostname") or arg.startswith("--hostname=") for arg in extra_args):
        return []
    return [f"--hostname=corehub-{os.getpid()}@%h"]


def run_scheduler(settings: Settings) -> None:
    _require_shared_broker(settings, "scheduler")
    configure_logging(settings.logging)
    rt = build_runtime(settings)
    scheduler = rt.scheduler()

    def stop(signum: int, _frame: Any) -> None:
        scheduler.request_stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("scheduler running (tick %.2fs)", settings.scheduler.tick_seconds)
    _freeze_startup_heap()
    try:
        scheduler.run()
    finally:
        rt.close()


class _Server(uvicorn.Server):
    """uvicorn re-raises the stop signal after shutting down, which would kill the process
    before the worker and scheduler stop; here a signal only asks for a graceful exit, and
    tells `on_stop` at once so the other parts wind down while HTTP does."""

    def __init__(self, config: uvicorn.Config, on_stop: Callable[[], None] | None) -> None:
        super().__init__(config)
        self.on_stop = on_stop

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if self.on_stop is not None:
            self.on_stop()

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in STOP_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _serve_http(
    rt: Runtime, sock: socket.socket, on_stop: Callable[[], None] | None = None
) -> None:
    config = uvicorn.Config(
        create_app(rt.services),
        log_level="warning",
        timeout_graceful_shutdown=2,
        lifespan="off",
    )
    _freeze_startup_heap()
    _Server(config, on_stop).run(sockets=[sock])


def _freeze_startup_heap() -> None:
    """Put what start-up built (modules, app, registry: alive as long as the process) out of
    the garbage collector's reach. Its full passes scanned all of it: with them the API's
    p99 at 50 clients was 100 ms, without them 30 (bench.submit, `GET /ping`). In a prefork
    worker it also keeps the parent's memory pages shared with its children."""
    gc.collect()
    gc.freeze()


def _require_shared_broker(settings: Settings, what: str) -> None:
    if settings.embedded_broker:
        raise ConfigError(
            [
                f"broker.url [COREHUB_BROKER__URL]: `corehub {what}` needs a broker that other "
                "processes reach (redis://… or amqp://…); for one process use `corehub up`"
            ]
        )


def _listen(host: str, port: int) -> socket.socket:
    """The socket to serve on, bound before anything else starts: a port in use is a one-line
    error, not a traceback after start-up (every API process accepts on it). uvicorn starts
    listening once the app can answer, so until then connections are refused, not queued."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise Unavailable(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


def _version() -> str:
    from corehub import __version__

    return __version__
