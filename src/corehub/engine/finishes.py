"""Finishes that ride with the next claim (PostgreSQL).

A task's finish and the next task's claim were two transactions, each a round trip and a
commit that waits for the WAL flush: a prefork pool process spent about two thirds of its
time waiting for PostgreSQL. Now a pool process hands a task's outcome here and returns; its
next claim carries the outcome, finish first, in one transaction, one round trip and one
commit (`PipelineStore.finish_then_claim`; a step's claim, or several waiting finishes,
take a transaction of their own first). A finish waits only while the process's claims come
quickly: when its last claim came more than `idle_gap` after the delivery before it
returned, the process is idle, and a thread of the process writes the finish at once, beside
the next task (start to finish measured 1.7 ms p50 this way, against 0.7-1.1 ms written
before the task returned). When no claim comes within `delay`
(a busy process at a burst's end), that thread writes it alone, so a result shows up to
about twice that later.

What waits here is this process's memory only, for milliseconds. The attempt keeps its lease,
and its heartbeat, until its finish commits; if the process dies first, the task is still
`started`, and rescue runs it again once the lease expires, as for a process killed while the
task ran: no accepted task is lost, and no attempt is recorded twice. A process's normal end
(Celery's `worker_process_shutdown`, `worker_shutdown`) writes what waits first. While the
database is unavailable the thread keeps trying, and claims fail as they did.

A pipeline step finishes in its own transaction before its task returns: that finish also
releases the next steps, which its process publishes at once. On SQLite every finish is
written at once too: there concurrent finishes and claims already share commits
(`Database.grouped`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from corehub.engine.heartbeat import Heartbeats
from corehub.errors import Unavailable
from corehub.store import Lease, Outcome, TaskStore

log = logging.getLogger("corehub.engine")
DELAY = 0.002  # seconds an outcome waits for the next claim before it is written alone
# A claim that came more than this after the process's previous delivery returned says the
# process is idle (in a busy stream nine in ten come within 2 ms, 99 in 100 within 9 ms).
IDLE_GAP = 0.005
QUIET = 0.1  # seconds without finishes after which the thread sleeps until the next one
RETRY_PAUSE = 1.0  # seconds between writes while the database is unavailable
EXIT_TRIES = 3  # writes tried at a process's end


@dataclass(frozen=True, slots=True)
class Finish:
    lease: Lease
    outcome: Outcome
    then: Callable[[bool], None]  # after the commit: whether the attempt still held its lease
    at: float = field(default_factory=time.monotonic)

    @property
    def transition(self) -> tuple[Lease, Outcome]:
        return self.lease, self.outcome


class PendingFinishes:
    """This process's finishes waiting for a claim to carry them."""

    def __init__(
        self,
        store: TaskStore,
        heartbeats: Heartbeats,
        *,
        delay: float = DELAY,
        idle_gap: float = IDLE_GAP,
    ) -> None:
        self.store = store
        self.heartbeats = heartbeats
        self.delay = delay
        self.idle_gap = idle_gap
        self._ended: float | None = None  # when this process's last delivery returned
        self._busy = False  # its last claim came within `idle_gap` of that
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._urgent = threading.Event()  # a finish is to be written without waiting
        self._waiting: list[Finish] = []
        self._idle = True  # the thread sleeps until `put` wakes it
        self._writing = threading.RLock()  # a process's end waits for a write under way
        self._pid: int | None = None

    def claiming(self) -> None:
        """Called as a delivery claims: the process is busy if this claim came within
        `idle_gap` of the delivery before it returning. (In a threads pool the threads share
        the answer: a finish may then wait, or not, when it need not; either way it is
        written.)"""
        ended = self._ended
        self._busy = ended is not None and time.monotonic() - ended < self.idle_gap

    def ended(self) -> None:
        """Called as a delivery returns, its finish written or left waiting: the idle time
        until the next claim counts from here (not from the task's end, or a slow commit
        written at once would count as idle time, and keep the process idle)."""
        self._ended = time.monotonic()

    def put(self, lease: Lease, outcome: Outcome, then: Callable[[bool], None]) -> None:
        """Leave an attempt's finish (its lease still held) for the next claim while the
        process is busy; else for the thread to write now, unless a claim takes it first."""
        with self._lock:
            if self._pid != os.getpid():  # a forked child writes with a thread of its own
                self._pid = os.getpid()
                self._waiting, self._idle = [], True
                self._wake, self._urgent = threading.Event(), threading.Event()
                threading.Thread(target=self._run, name="corehub-finishes", daemon=True).start()
            at_once = not self._busy
            at = time.monotonic() - (self.delay if at_once else 0.0)  # due now, or later
            self._waiting.append(Finish(lease, outcome, then, at))
            if at_once:
                self._urgent.set()
            if self._idle:
                self._idle = False
                self._wake.set()

    def take(self) -> list[Finish]:
        """Everything waiting, for the caller to write (`done` after, or `give_back`)."""
        with self._lock:
            taken, self._waiting = self._waiting, []
        return taken

    def give_back(self, finishes: Sequence[Finish]) -> None:
        """Finishes taken but not written (their transaction failed): waiting again."""
        if not finishes:
            return
        with self._lock:
            self._waiting[:0] = finishes
            self._wake.set()

    def done(self, finishes: Sequence[Finish], finished: Sequence[bool]) -> None:
        """After their commit: the leases are let go, and each one's follow-up runs."""
        for finish, held in zip(finishes, finished, strict=True):
            self.heartbeats.release(finish.lease.token)
            try:
                if not held:
                    self.store.record_lost_lease(finish.lease)
                finish.then(held)
            except Exception:
                log.exception("after the finish of task %s", finish.lease.task_id)

    def write_now(self, finishes: Sequence[Finish]) -> bool:
        """Write finishes in a transaction of their own, in the caller's thread (before a
        claim that cannot carry them); False if the database is unavailable (they wait
        again)."""
        with self._writing:
            return self._write(finishes)

    def flush(self, **_: Any) -> None:
        """Write what waits now, after any write under way (a Celery signal's receiver at a
        process's end: the process exits right after it)."""
        with self._writing:
            for attempt in range(EXIT_TRIES):
                finishes = self.take()
                if not finishes or self._write(finishes):
                    return
                if attempt < EXIT_TRIES - 1:
                    time.sleep(RETRY_PAUSE)
            left = len(self.take())
        if left:
            log.warning("%d task outcomes not recorded at exit; rescue runs them again", left)

    def _run(self) -> None:
        """While finishes come, look every `delay` for one no claim took, or at once for one
        to be written at once; after `QUIET` without any, sleep until `put` wakes the
        thread. (A wake-up per finish cost a busy pool process more than the look every
        `delay`: only an idle process's finishes wake it.)"""
        pid = os.getpid()
        while os.getpid() == pid:
            self._wake.wait()
            last_seen = time.monotonic()
            while True:
                self._urgent.wait(self.delay)
                self._urgent.clear()  # a `put` after this sets it again
                now = time.monotonic()
                with self._lock:
                    if self._waiting:
                        last_seen = now
                    elif now - last_seen > QUIET:
                        self._idle = True
                        self._wake.clear()
                        break
                    due = any(f.at <= now - self.delay for f in self._waiting)
                if due and not self._write_due():
                    time.sleep(RETRY_PAUSE)

    def _write_due(self) -> bool:
        """What no claim took, written under the write lock, taken under it too: a flush at
        the process's end then finds it either waiting or written."""
        try:
            with self._writing:
                finishes = self.take()
                return not finishes or self._write(finishes)
        except Exception:  # never let the thread die: what waits would wait forever
            log.exception("writing waiting task outcomes failed")
            return True

    def _write(self, finishes: Sequence[Finish]) -> bool:
        """Write finishes in one transaction; False (and waiting again) if the database is
        unavailable."""
        try:
            finished = self.store.transitions.finish_many([f.transition for f in finishes])
        except Unavailable as exc:
            log.warning("%d task outcomes not recorded yet: %s", len(finishes), exc.detail)
            self.give_back(finishes)
            return False
        except Exception:  # not the database's absence: this one cannot be written
            if len(finishes) > 1:  # one bad finish must not take the others with it
                return all([self._write([finish]) for finish in finishes])  # each, no short cut
            lease = finishes[0].lease
            log.exception("task %s: outcome not recorded; rescue runs it again", lease.task_id)
            self.heartbeats.release(lease.token)
            return True
        self.done(finishes, finished)
        return True
