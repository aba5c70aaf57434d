"""A hub to measure: an existing one (`--url`) or `corehub up` started in a temporary
directory, the way a user runs it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from corehub.client import Client
from corehub.errors import CorehubError


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def embedded_hub(env: dict[str, str] | None = None) -> Iterator[str]:
    """Start `corehub up` on a free port with its own data dir; yield its URL."""
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="corehub-bench-") as tmp:
        environ = {
            **{k: v for k, v in os.environ.items() if not k.startswith("COREHUB_")},
            "COREHUB_DATA_DIR": str(Path(tmp) / "data"),
            "COREHUB_API__PORT": str(port),
            "COREHUB_LOGGING__LEVEL": "WARNING",
            **(env or {}),
        }
        log = (Path(tmp) / "hub.log").open("w")
        proc = subprocess.Popen(
            [sys.executable, "-m", "corehub.cli.main", "up"],
            cwd=tmp,
            env=environ,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(url, proc)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    with Client(url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the hub exited with {proc.returncode}")
            try:
                client.ping()
                return
            except CorehubError:
                time.sleep(0.2)
    raise RuntimeError(f"the hub at {url} did not answer in {timeout}s")
