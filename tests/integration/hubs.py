"""Hubs as real processes: `corehub up`, or `corehub api` + workers + scheduler on real servers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from corehub import Client
from corehub.errors import NotFound
from corehub.schemas import TERMINAL_STATUSES, TaskView
from tests.harness.servers import free_port

CLI = [sys.executable, "-m", "corehub.cli.main"]
MODULES = Path(__file__).parent / "modules"


@dataclass
class HubProcess:
    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.cwd / f"{self.name}.log"

    def start(self) -> None:
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def signal(self, sig: signal.Signals) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)

    def stop(self, timeout: float = 10.0) -> int | None:
        self.signal(signal.SIGTERM)
        return self.wait_stopped(timeout)

    def wait_stopped(self, timeout: float = 10.0) -> int | None:
        """The exit code once it has stopped; killed if it takes longer than `timeout`."""
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            return self.proc.wait(5)

    def kill(self) -> None:
        if self.proc is not None:
            self.signal(signal.SIGKILL)
            self.proc.wait(5)

    def tail(self, lines: int = 40) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Hub:
    """A running hub and the processes behind it."""

    mode: str
    workdir: Path
    env: dict[str, str]
    api_port: int
    broker_url: str | None
    processes: list[HubProcess] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def client(self) -> Client:
        return Client(self.url, timeout=30)

    def process(self, name: str) -> HubProcess:
        return next(p for p in self.processes if p.name == name)

    def add(self, name: str, *args: str) -> HubProcess:
        proc = HubProcess(name, [*CLI, *args], self.env, self.workdir)
        self.processes.append(proc)
        return proc

    def start(self, timeout: float = 60.0) -> None:
        for proc in self.processes:
            proc.start()
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for proc in self.processes:
                if proc.proc is not None and proc.proc.poll() is not None:
                    raise RuntimeError(f"{proc.name} exited early:\n{proc.tail()}")
            try:
                if httpx.get(f"{self.url}/ping", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"hub not ready in {timeout}s:\n{self.logs()}")

    def stop(self) -> None:
        """All processes told at once, so that a worker's warm shutdown is not waited for
        before the others are told."""
        for proc in reversed(self.processes):
            proc.signal(signal.SIGTERM)
        for proc in reversed(self.processes):
            proc.wait_stopped()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.tail()}" for p in self.processes)

    def wait_all(self, task_ids: list[str], timeout: float = 60.0) -> list[TaskView]:
        """Poll until every task is final; fail with the hub's logs if not in time."""
        deadline = time.monotonic() + timeout
        pending = set(task_ids)
        final: dict[str, TaskView] = {}
        with self.client() as client:
            while pending and time.monotonic() < deadline:
                for task_id in list(pending):
                    try:
                        view = client.get(task_id)
                    except NotFound:  # a plain Celery client's task has no row until claimed
                        continue
                    if view.status in TERMINAL_STATUSES:
                        final[task_id] = view
                        pending.discard(task_id)
                if pending:
                    time.sleep(0.2)
        if pending:
            raise AssertionError(f"{len(pending)} tasks not final after {timeout}s\n{self.logs()}")
        return [final[t] for t in task_ids]


def base_env(workdir: Path, api_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COREHUB_")}
    env.update(
        {
            "COREHUB_DATA_DIR": str(workdir / "data"),
            "COREHUB_API__PORT": str(api_port),
            "COREHUB_SCHEDULER__RELAY_GRACE_SECONDS": "1",
            "COREHUB_SCHEDULER__TICK_SECONDS": "0.2",
            "PYTHONUNBUFFERED": "1",
            "COREHUB_MODULES__PATHS": f'["{MODULES}"]',
            "COREHUB_TASKS__MAX_RESULT_BYTES": "65536",
        }
    )
    return env


def embedded_hub(workdir: Path) -> Hub:
    port = free_port()
    hub = Hub("embedded", workdir, base_env(workdir, port), port, broker_url=None)
    hub.add("up", "up", "--port", str(port))
    return hub


def split_hub(
    workdir: Path,
    database_url: str,
    broker_url: str,
    *,
    workers: int = 1,
    concurrency: int = 2,
    schedulers: int = 1,
    env: dict[str, str] | None = None,
) -> Hub:
    port = free_port()
    full_env = {**base_env(workdir, port), **(env or {})}
    full_env["COREHUB_DATABASE__URL"] = database_url
    full_env["COREHUB_BROKER__URL"] = broker_url
    hub = Hub("split", workdir, full_env, port, broker_url=broker_url)
    hub.add("api", "api", "--port", str(port))
    for n in range(schedulers):
        hub.add(f"scheduler{n}" if n else "scheduler", "scheduler")
    for n in range(workers):
        hub.add(
            f"worker{n}",
            "worker",
            "--concurrency",
            str(concurrency),
            "--pool",
            "prefork",
            "--loglevel",
            "WARNING",
        )
    return hub


def running(hub: Hub) -> Iterator[Hub]:
    hub.workdir.mkdir(parents=True, exist_ok=True)
    hub.start()
    try:
        yield hub
    finally:
        hub.stop()
