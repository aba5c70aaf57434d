"""Group commit: concurrent writers share one transaction.

Each write is durable when its transaction commits, and a commit costs an fsync (and on
SQLite the one writer's turn). Writes that arrive while a batch is being written wait and
go together in the next one, so under load the cost of a commit is shared, and alone a
write goes at once (no timer, no added latency). Used for concurrent single submits (one
transaction and one publish) and for SQLite's transitions (`Database.grouped`).

Leader and followers: the caller that finds no writer becomes the writer; when its own item
is done it hands the role to the oldest waiting caller and returns. A coroutine
(`submit_async`, the API's event loop) waits on its loop, not in a thread; when it is to
write, the loop's executor writes for it: a thread hop per batch, not per item.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar, cast

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass(eq=False)
class _Slot(Generic[Item, Result]):
    item: Item
    # A thread's caller waits on `done`, a coroutine on `future` (woken on its event loop);
    # the one it does not use is not built (an Event is a Condition and a lock per submit).
    done: threading.Event | None = None
    future: asyncio.Future[None] | None = None
    lead: bool = False
    written: bool = False
    result: Result | None = None
    error: BaseException | None = None

    def wake(self) -> None:
        """Tell the caller its item is written."""
        if self.future is None:
            assert self.done is not None
            self.done.set()
            return
        with contextlib.suppress(RuntimeError):  # a closed event loop: nobody waits any more
            self.future.get_loop().call_soon_threadsafe(_resolve, self.future)

    def outcome(self) -> Result:
        if self.error is not None:
            raise self.error
        return cast(Result, self.result)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


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
        done = threading.Event()
        slot: _Slot[Item, Result] = _Slot(item, done=done)
        self._enqueue(slot)
        if not slot.lead:
            done.wait()  # written by the writer, or made the writer
        if not slot.written:
            self._lead(slot)
        return slot.outcome()

    async def submit_async(self, item: Item) -> Result:
        """`submit` for a coroutine: it waits on its event loop, and whoever writes for it runs
        in the loop's executor. A cancelled caller's item is still written."""
        loop = asyncio.get_running_loop()
        written: asyncio.Future[None] = loop.create_future()
        slot: _Slot[Item, Result] = _Slot(item, future=written)
        self._enqueue(slot)
        if slot.lead:
            self._lead_for_coroutine(slot)
        await written
        return slot.outcome()

    def _lead_for_coroutine(self, slot: _Slot[Item, Result]) -> None:
        """Write for a coroutine in its loop's executor or, when that is shut down (the loop
        is closing), in a thread of its own: its item is written all the same."""
        assert slot.future is not None
        try:
            slot.future.get_loop().run_in_executor(None, self._lead, slot)
        except RuntimeError:
            self._lead_in_a_thread(slot)

    def _lead_in_a_thread(self, slot: _Slot[Item, Result]) -> None:
        threading.Thread(target=self._lead, args=(slot,), daemon=True).start()

    def _enqueue(self, slot: _Slot[Item, Result]) -> None:
        if self._pid != os.getpid():
            self._reset()
        with self._lock:
            self._waiting.append(slot)
            slot.lead = not self._busy
            self._busy = True

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
        if heir.future is None:
            assert heir.done is not None
            heir.done.set()
            return
        try:  # a coroutine's writing starts on its loop, cancelled or not
            heir.future.get_loop().call_soon_threadsafe(self._lead_for_coroutine, heir)
        except RuntimeError:  # that loop is closed
            self._lead_in_a_thread(heir)

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
            slot.wake()
