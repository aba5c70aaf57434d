"""`corehub api --workers N`: N processes on one port, stopped together, whichever way it ends."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.servers import RedisServer
from tests.integration.hubs import CLI, Hub, base_env, split_hub

pytestmark = pytest.mark.servers
PROCESSES = 2


def _children(parent: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == parent:
            found.add(int(stat.parent.name))
    return found


def _alive(pids: set[int]) -> set[int]:
    return {pid for pid in pids if Path(f"/proc/{pid}").exists() and not _zombie(pid)}


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


def _wait_gone(pids: set[int], timeout: float) -> set[int]:
    deadline = time.monotonic() + timeout
    while _alive(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return _alive(pids)


@pytest.fixture
def api(tmp_path: Path, redis_server: RedisServer) -> Iterator[Hub]:
    db = f"sqlite:///{tmp_path / 'hub.db'}"
    hub = split_hub(tmp_path, db, redis_server.url_for_db(13), workers=0, schedulers=0)
    hub.process("api").argv += ["--workers", str(PROCESSES)]
    hub.start()
    yield hub
    hub.stop()


def _processes(hub: Hub) -> set[int]:
    """The API processes the command forked (all of them, or the test proves nothing)."""
    proc = hub.process("api").proc
    assert proc is not None
    children = _children(proc.pid)
    assert len(children) == PROCESSES, children
    return children


def test_the_processes_serve_and_stop_with_their_parent(api: Hub) -> None:
    children = _processes(api)
    with api.client() as client:
        ids = [client.run("echo_bot.echo", {"text": str(i)}).task_id for i in range(10)]
        stored = [client.get(i).status for i in ids]

    code = api.process("api").stop()

    assert (stored, code, _wait_gone(children, 5)) == (["queued"] * 10, 0, set())


def test_one_process_dying_stops_the_others_and_fails_the_command(api: Hub) -> None:
    children = _processes(api)
    victim = min(children)
    os.kill(victim, signal.SIGKILL)
    api_proc = api.process("api").proc
    assert api_proc is not None

    code = api_proc.wait(10)

    assert (code, _wait_gone(children, 5)) == (1, set())
    assert f"API process {victim} ended (killed by SIGKILL)" in api.process("api").tail()


def test_the_processes_stop_when_their_parent_is_killed(api: Hub) -> None:
    children = _processes(api)
    api.process("api").kill()
    assert _wait_gone(children, 10) == set()


@pytest.mark.parametrize("workers", ["1", str(PROCESSES)])
def test_a_port_in_use_is_a_one_line_error(
    tmp_path: Path, redis_server: RedisServer, workers: str
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {
            **base_env(tmp_path, port),
            "COREHUB_DATABASE__URL": f"sqlite:///{tmp_path / 'hub.db'}",
            "COREHUB_BROKER__URL": redis_server.url_for_db(13),
        }
        done = subprocess.run(
            [*CLI, "api", "--port", str(port), "--workers", workers],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert (done.returncode, done.stderr.strip().splitlines()) == (
        1,
        [f"error: cannot listen on 127.0.0.1:{port}: Address already in use"],
    )
