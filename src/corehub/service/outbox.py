"""Publish after commit, and remember what reached the broker so the relay can do the rest."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal, Protocol

from corehub.store import TaskRecord, TaskStatus, TaskStore
from corehub.store.leadership import Fence
from corehub.store.pipelines import Changed

log = logging.getLogger(__name__)


class Publisher(Protocol):
    """Sends due tasks to the broker; returns the ids that were handed over."""

    def publish(self, tasks: Sequence[TaskRecord]) -> list[str]: ...

    def revoke(self, task_id: str, *, terminate: bool) -> None:
        """Tell workers not to start `task_id` (and, with `terminate`, to kill its run)."""


# How the tasks published get their `published_at` mark:
# - "now": written before returning (the scheduler's fenced paths);
# - "later": left to the store's batched background writer (request paths: the caller does
#   not wait for a hint);
# - "stored": the rows were inserted marked (`TaskStore.create(published=True)`), so only
#   those the broker refused are written, unmarked, for the relay.
Mark = Literal["now", "later", "stored"]


def publish_committed(
    store: TaskStore,
    publisher: Publisher | None,
    tasks: Sequence[TaskRecord],
    fence: Fence | None = None,
    *,
    mark: Mark = "now",
) -> int:
    """Publish committed tasks that are due (queued) and mark them (`Mark`); whatever fails
    stays for the relay. Scheduled ones wait in SQL until the leader releases them.

    Returns how many were published and marked: 0 when marking failed or `fence` is no
    longer the live lease, so a caller that loops until nothing is left cannot spin on rows
    it keeps re-publishing.
    """
    tasks = [task for task in tasks if task.status is TaskStatus.QUEUED]  # not the waiting
    if publisher is None or not tasks:
        return 0
    published = publisher.publish(tasks)
    if len(published) < len(tasks):
        log.warning(
            "%d of %d tasks not published; the relay will retry them",
            len(tasks) - len(published),
            len(tasks),
        )
    if mark == "stored":
        sent = set(published)
        _unmark(store, [task.id for task in tasks if task.id not in sent])
    elif mark == "later":
        store.marks.add(published)
    else:
        try:
            return store.mark_published(published, fence)
        except Exception as exc:  # the relay re-publishes; the claim absorbs the duplicate
            log.warning("could not mark %d tasks published: %s", len(published), exc)
            return 0
    return len(published)


def _unmark(store: TaskStore, task_ids: list[str]) -> None:
    if not task_ids:
        return
    try:
        store.unmark_published(task_ids)
    except Exception as exc:  # the redelivery check republishes them, later
        log.warning("could not unmark %d unpublished tasks: %s", len(task_ids), exc)


def apply_changes(
    store: TaskStore,
    publisher: Publisher | None,
    changed: Changed,
    fence: Fence | None = None,
) -> None:
    """After a pipeline write commits: publish the steps it released, revoke the started
    tasks it cancelled (best effort: their lease is already gone)."""
    publish_committed(
        store, publisher, changed.publish, fence, mark="now" if fence is not None else "later"
    )
    if publisher is not None:
        for task_id in changed.revoke:
            publisher.revoke(task_id, terminate=False)
