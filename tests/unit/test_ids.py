"""Generated ids are the version-4 UUIDs `uuid.uuid4()` would give, and do not repeat."""

from __future__ import annotations

import ctypes
import os
import threading
import uuid

import pytest

from corehub import ids
from corehub.ids import random_uuid


def test_an_id_is_a_version_4_uuid_in_its_canonical_text() -> None:
    for _ in range(2000):
        text = random_uuid()
        parsed = uuid.UUID(text)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == text


def test_ids_do_not_repeat_and_use_every_variant_digit() -> None:
    ids = [random_uuid() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    assert {text[19] for text in ids} == set("89ab")


@pytest.mark.parametrize("python_sees_the_fork", [True, False])
def test_a_forked_child_does_not_reuse_its_parents_unread_randomness(
    python_sees_the_fork: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ids are read from the kernel in blocks: a child forked with part of a block left
    must read its own, or parent and child (two pool processes) would make the same ids.
    Python's fork hook forgets the block; for a fork it does not see, the pid check does."""
    if not python_sees_the_fork:
        monkeypatch.setattr(ids, "_forget_in_child", lambda: None)
    monkeypatch.setattr(ids._randomness, "digits", [])
    random_uuid()  # a block is read; all of it but one id is left
    read, write = os.pipe()
    pid = os.fork() if python_sees_the_fork else _unseen_fork()
    if pid == 0:  # the child: its next ids, to the parent
        try:
            os.close(read)
            os.write(write, " ".join(random_uuid() for _ in range(10)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = set(pipe.read().split())
    os.waitpid(pid, 0)
    parent = {random_uuid() for _ in range(10)}
    assert len(child) == 10 and not child & parent


def _unseen_fork() -> int:
    """A fork Python's at-fork hooks do not run for (as a C library's own fork)."""
    return int(ctypes.CDLL(None, use_errno=True).fork())


def test_threads_make_distinct_ids_at_once() -> None:
    made: list[list[str]] = []
    start = threading.Barrier(4)

    def make() -> None:
        start.wait()
        made.append([random_uuid() for _ in range(1000)])

    threads = [threading.Thread(target=make) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [text for ids_ in made for text in ids_]
    assert len(every) == 4000 and len(set(every)) == 4000
