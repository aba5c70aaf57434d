"""Group commit: concurrent writers share one transaction.

Each write is durable when its transaction commits, and a commit costs an fsync (and on
SQLite the one writer's turn). Writes that arrive while a batch is being written wait and
go together in the next one, so under load the cost of a commit is shared, and alone a
write goes at once (no timer, no added latency). Used for concurrent single submits (one
transaction and one publish) and for SQLite's transitions (`Database.grouped`).

Leader and followers: the caller that finds no writer becomes the writer; when its own item
is done it hands the role to the oldest waiting caller and returns.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar, cast

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass(eq=False)
class _Slot(Generic[Item, Result]):
    item: Item
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    written: bool = False
    result: Result | None = None
    error: BaseException | None = None


class GroupCommit(Generic[Item, Result]):
    def __init__(
        self,
        write: Callable[[Sequence[Item]], Sequence[Result | BaseException]],
        max_batch: int = 200,
    ) -> None:
        self._write = write
        self._max_batch = max_batch
        self._reset()

    def _reset(self) -> None:
        # A forked child (a prefork worker) starts afresh: a writer of the parent's that was
        # mid-batch at the fork does not exist in the child.
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._waiting: list[_Slot[Item, Result]] = []
        self._busy = False

    def submit(self, item: Item) -> Result:
        """Write `item` with whatever else is waiting; its result, or its own error."""
        slot: _Slot[Item, Result] = _Slot(item)
        if self._pid != os.getpid():
            self._reset()
        with self._lock:
            self._waiting.append(slot)
            slot.lead = not self._busy
            self._busy = True
        if not slot.lead:
            slot.done.wait()  # written by the writer, or made the writer
        if not slot.written:
            self._lead(slot)
        if slot.error is not None:
            raise slot.error
        return cast(Result, slot.result)

    def _lead(self, mine: _Slot[Item, Result]) -> None:
        """Write batches until this caller's item is written, then pass the role on."""
        while not mine.written:
            with self._lock:
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
            self._write_batch(batch)
        with self._lock:
            if not self._waiting:
                self._busy = False
                return
            heir = self._waiting[0]
            heir.lead = True
        heir.done.set()

    def _write_batch(self, batch: list[_Slot[Item, Result]]) -> None:
        try:
            outcomes: Sequence[Result | BaseException] = self._write([s.item for s in batch])
        except BaseException as exc:  # the whole batch failed alike
            outcomes = [exc] * len(batch)
        for slot, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                slot.error = outcome
            else:
                slot.result = outcome
            slot.written = True
            slot.done.set()
