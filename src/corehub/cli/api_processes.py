"""`corehub api --workers N`: N API processes serving one listening socket.

One Python process serves HTTP on one core; this lets the API use more. The parent binds the
socket, forks the processes before anything opens a connection or starts a thread (each builds
its own runtime: database pool, broker connection) and supervises them: a stop signal is
passed on to each, and if one dies the others are stopped and the command exits non-zero, for
whatever runs it (systemd, Kubernetes) to restart. Each process runs in a process group of its
own, so a terminal's Ctrl-C reaches the parent alone and each process is stopped once,
gracefully; each also stops if the parent is gone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from types import FrameType

log = logging.getLogger("corehub")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
PARENT_CHECK_SECONDS = 1.0


def serve_forked(count: int, serve: Callable[[], None], sock: socket.socket) -> None:
    """Run `serve` in `count` forked processes until a stop signal or one of them ends.

    `serve` returns when its process is to exit (SIGTERM asks it to). Returns normally after
    a requested stop; raises SystemExit(1) if a process ended on its own.
    """
    children: set[int] = set()
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            _signal(pid, signum)

    previous = {sig: signal.signal(sig, stop) for sig in STOP_SIGNALS}
    # A stop signal that arrives while forking waits until every process is known (and a
    # child resets its handlers before it can receive one).
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        for _ in range(count):
            children.add(_fork(serve))
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        failed = _wait(children, lambda: stopping)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
    if failed:
        raise SystemExit(1)


def _fork(serve: Callable[[], None]) -> int:
    parent = os.getpid()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        os.setpgid(0, 0)
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        threading.Thread(
            target=_stop_when_orphaned, args=(parent,), name="corehub-parent", daemon=True
        ).start()
        serve()
        code = 0
    except BaseException:
        log.exception("API process %d failed", os.getpid())
    finally:
        logging.shutdown()
        os._exit(code)


def _stop_when_orphaned(parent: int) -> None:
    """Ask this process to stop (as its parent would) once the parent is gone."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)


def _wait(children: set[int], stopping: Callable[[], bool]) -> bool:
    """Reap the processes; True if one ended without being asked (the rest are stopped)."""
    failed = False
    while children:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        children.discard(pid)
        if stopping() or failed:
            continue
        log.error(
            "API process %d ended (%s); stopping the others",
            pid,
            _describe(status),
        )
        failed = True
        for other in children:
            _signal(other, signal.SIGTERM)
    return failed


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            return f"killed by {signal.Signals(number).name}"
        except ValueError:  # a real-time signal has no name
            return f"killed by signal {number}"
    return f"exit code {os.waitstatus_to_exitcode(status)}"


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.kill(pid, sig)
