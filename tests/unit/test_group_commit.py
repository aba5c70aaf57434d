"""Group commit: concurrent callers share writes; each gets its own result or error."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Connection

from corehub.store import Database
from corehub.store.group_commit import GroupCommit


class SlowWriter:
    """Records each batch; the first write blocks until released, so others pile up."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.first_started = threading.Event()
        self.release = threading.Event()

    def __call__(self, items: Sequence[int]) -> list[int | BaseException]:
        self.batches.append(list(items))
        if len(self.batches) == 1:
            self.first_started.set()
            self.release.wait(5)
        return [ValueError(f"odd {i}") if i % 2 else i * 10 for i in items]


def test_a_lone_caller_is_written_at_once_in_a_batch_of_its_own() -> None:
    writer = SlowWriter()
    writer.release.set()
    group: GroupCommit[int, int] = GroupCommit(writer)
    assert [group.submit(2), group.submit(4)] == [20, 40]
    assert writer.batches == [[2], [4]]


def test_callers_arriving_during_a_write_share_the_next_one() -> None:
    writer = SlowWriter()
    group: GroupCommit[int, int] = GroupCommit(writer)
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(group.submit, 0)
        assert writer.first_started.wait(5)
        rest = {i: pool.submit(group.submit, i) for i in (2, 4, 6, 8, 10)}
        deadline = time.monotonic() + 5
        while len(group._waiting) < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        writer.release.set()
        assert first.result(5) == 0
        assert {i: f.result(5) for i, f in rest.items()} == {i: i * 10 for i in rest}
    assert writer.batches[0] == [0]
    assert sorted(writer.batches[1]) == [2, 4, 6, 8, 10]  # one write for all five
    assert len(writer.batches) == 2


def test_an_item_error_reaches_only_its_caller() -> None:
    writer = SlowWriter()
    group: GroupCommit[int, int] = GroupCommit(writer)
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(group.submit, 0)
        assert writer.first_started.wait(5)
        odd, even = pool.submit(group.submit, 3), pool.submit(group.submit, 4)
        deadline = time.monotonic() + 5
        while len(group._waiting) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        writer.release.set()
        assert (first.result(5), even.result(5)) == (0, 40)
        with pytest.raises(ValueError, match="odd 3"):
            odd.result(5)


def test_a_failed_write_fails_every_caller_of_that_batch_and_the_next_write_works() -> None:
    calls: list[list[int]] = []

    def flaky(items: Sequence[int]) -> list[int | BaseException]:
        calls.append(list(items))
        if len(calls) == 1:
            raise RuntimeError("database is unavailable")
        return list(items)

    group: GroupCommit[int, int] = GroupCommit(flaky)
    with pytest.raises(RuntimeError, match="unavailable"):
        group.submit(1)
    assert group.submit(2) == 2


def test_many_threads_all_get_their_own_result() -> None:
    def echo(items: Sequence[int]) -> list[int | BaseException]:
        time.sleep(0.002)
        return [i * 2 for i in items]

    group: GroupCommit[int, int] = GroupCommit(echo, max_batch=7)
    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(group.submit, range(500)))
    assert results == [i * 2 for i in range(500)]


def test_sqlite_grouped_writes_roll_back_only_the_one_that_raised(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'g.db'}")
    try:
        with db.write() as conn:
            conn.exec_driver_sql("CREATE TABLE t (v INTEGER)")

        def insert(value: int) -> Callable[[Connection], int]:
            def work(conn: Connection) -> int:
                conn.exec_driver_sql(f"INSERT INTO t VALUES ({value})")
                if value % 5 == 0:
                    raise ValueError(f"refused {value}")
                return value

            return work

        def run(value: int) -> int | str:
            try:
                return db.grouped(insert(value))
            except ValueError as exc:
                return str(exc)

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(run, range(1, 41)))
        with db.read() as conn:
            stored = sorted(v for (v,) in conn.exec_driver_sql("SELECT v FROM t"))
    finally:
        db.dispose()
    assert results == [f"refused {v}" if v % 5 == 0 else v for v in range(1, 41)]
    assert stored == [v for v in range(1, 41) if v % 5]


def test_a_forked_child_does_not_wait_for_a_writer_of_its_parent() -> None:
    group: GroupCommit[int, int] = GroupCommit(lambda items: list(items))
    group._busy = True  # as if a parent's thread was mid-batch at the fork
    group._pid = -1  # and this is the child
    assert group.submit(7) == 7


def test_coroutines_arriving_during_a_write_share_the_next_one_off_the_event_loop() -> None:
    writer = SlowWriter()
    group: GroupCommit[int, int] = GroupCommit(writer)
    writing_threads: set[int] = set()

    def traced(items: Sequence[int]) -> list[int | BaseException]:
        writing_threads.add(threading.get_ident())
        return writer(items)

    group._write = traced

    async def scenario() -> tuple[int, dict[int, int]]:
        first = asyncio.ensure_future(group.submit_async(0))
        while not writer.first_started.is_set():
            await asyncio.sleep(0.005)
        rest = {i: asyncio.ensure_future(group.submit_async(i)) for i in (2, 4, 6, 8, 10)}
        await asyncio.sleep(0.05)  # all five are queued behind the first write
        assert len(group._waiting) == 5
        writer.release.set()
        return await first, {i: await f for i, f in rest.items()}

    first, rest = asyncio.run(scenario())
    assert (first, rest) == (0, {i: i * 10 for i in (2, 4, 6, 8, 10)})
    assert writer.batches == [[0], [2, 4, 6, 8, 10]]  # one write, so one thread hop, for five
    # The executor runs each batch; which of its threads is its business (the first one may
    # not be idle yet when the heir's batch is handed over).
    assert threading.get_ident() not in writing_threads  # never the event loop's


def test_a_coroutine_gets_its_own_error_and_the_others_their_results() -> None:
    writer = SlowWriter()
    writer.release.set()
    group: GroupCommit[int, int] = GroupCommit(writer)

    async def scenario() -> list[int | BaseException]:
        calls = [group.submit_async(i) for i in range(6)]
        return await asyncio.gather(*calls, return_exceptions=True)

    outcomes = asyncio.run(scenario())
    assert [o if isinstance(o, int) else str(o) for o in outcomes] == [
        0,
        "odd 1",
        20,
        "odd 3",
        40,
        "odd 5",
    ]


def test_a_cancelled_coroutine_is_still_written_and_the_group_keeps_going() -> None:
    writer = SlowWriter()
    group: GroupCommit[int, int] = GroupCommit(writer)

    async def scenario() -> int:
        first = asyncio.ensure_future(group.submit_async(0))
        while not writer.first_started.is_set():
            await asyncio.sleep(0.005)
        queued = asyncio.ensure_future(group.submit_async(2))
        await asyncio.sleep(0.02)
        queued.cancel()  # the client went away while its item waited
        writer.release.set()
        await first
        return await group.submit_async(4)

    assert asyncio.run(scenario()) == 40
    assert writer.batches[0] == [0]
    assert sorted(i for batch in writer.batches[1:] for i in batch) == [2, 4]


def test_a_thread_hands_the_writer_role_to_a_waiting_coroutine() -> None:
    writer = SlowWriter()
    group: GroupCommit[int, int] = GroupCommit(writer)

    async def scenario() -> int:
        loop = asyncio.get_running_loop()
        thread_caller = loop.run_in_executor(None, group.submit, 0)  # the writer
        while not writer.first_started.is_set():
            await asyncio.sleep(0.005)
        waiting = asyncio.ensure_future(group.submit_async(2))
        await asyncio.sleep(0.02)
        writer.release.set()
        assert await thread_caller == 0  # it returns after its own item, handing the role on
        return await waiting

    assert asyncio.run(scenario()) == 20
    assert writer.batches == [[0], [2]]


def test_many_coroutines_and_threads_together_all_get_their_own_result() -> None:
    def echo(items: Sequence[int]) -> list[int | BaseException]:
        time.sleep(0.001)
        return [i * 2 for i in items]

    group: GroupCommit[int, int] = GroupCommit(echo, max_batch=7)

    async def scenario() -> tuple[list[int], list[int]]:
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(8) as pool:
            threads = [loop.run_in_executor(pool, group.submit, i) for i in range(0, 400, 2)]
            coros = [group.submit_async(i) for i in range(1, 400, 2)]
            return list(await asyncio.gather(*threads)), list(await asyncio.gather(*coros))

    by_threads, by_coroutines = asyncio.run(scenario())
    assert by_threads == [i * 2 for i in range(0, 400, 2)]
    assert by_coroutines == [i * 2 for i in range(1, 400, 2)]


def test_a_coroutine_whose_event_loop_closed_is_still_written_and_nothing_stalls() -> None:
    writer = SlowWriter()
    group: GroupCommit[int, int] = GroupCommit(writer)
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(group.submit, 0)  # a thread writes, slowly
        assert writer.first_started.wait(5)

        async def leave_an_item_behind() -> None:
            orphan = asyncio.ensure_future(group.submit_async(2))
            await asyncio.sleep(0.02)  # queued behind the write; then the loop closes
            assert not orphan.done()

        asyncio.run(leave_an_item_behind())
        writer.release.set()  # the writer hands its role to a coroutine whose loop is gone
        assert first.result(5) == 0
    assert group.submit(4) == 40  # not stuck behind the orphaned item
    assert sorted(i for batch in writer.batches for i in batch) == [0, 2, 4]
