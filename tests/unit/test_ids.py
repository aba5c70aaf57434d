"""Generated ids are the version-4 UUIDs `uuid.uuid4()` would give, and do not repeat."""

from __future__ import annotations

import os
import threading
import uuid

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


def test_a_forked_child_does_not_reuse_its_parents_unread_randomness() -> None:
    """Ids are read from the kernel in blocks: a child forked with part of a block left
    must read its own, or parent and child (two pool processes) would make the same ids."""
    random_uuid()  # the block is read; most of it is left
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, to the parent
        os.close(read)
        os.write(write, " ".join(random_uuid() for _ in range(10)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = set(pipe.read().split())
    os.waitpid(pid, 0)
    parent = {random_uuid() for _ in range(10)}
    assert len(child) == 10 and not child & parent


def test_each_thread_reads_its_own_randomness() -> None:
    made: list[list[str]] = []

    def make() -> None:
        made.append([random_uuid() for _ in range(1000)])

    threads = [threading.Thread(target=make) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [text for ids in made for text in ids]
    assert len(every) == 4000 and len(set(every)) == 4000
