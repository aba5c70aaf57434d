"""Priority names (settings.tasks.priorities, highest first) as each broker orders messages.

- RabbitMQ: queues declared with `x-max-priority` = N-1 (opt-in: broker.priority_queues),
  messages carry N-1 for the highest name down to 0 for the lowest; higher goes first.
- Redis: kombu emulates priorities with one list per step and polls the lists in step order,
  so there 0 is the HIGHEST. kombu's default steps (0, 3, 6, 9) are kept, so a plain Celery
  client's message (any priority number) always lands on a list the workers poll; names map
  onto them in order (high 0, default 3, low 6). More than four names use 0..9.
- In-process (embedded): kombu's memory transport is FIFO; `PriorityMemoryTransport` orders
  each queue by priority (higher first, FIFO within one), and wakes a waiting consumer as a
  message is put instead of letting it poll.

Without a priority a message counts as 0: the highest level on Redis, the lowest on RabbitMQ
and in-process. Priorities order what waits in one queue; they do not pre-empt running work.
"""

from __future__ import annotations

import itertools
import threading
from queue import Empty, PriorityQueue
from time import monotonic
from typing import Any

from kombu.transport import memory

from corehub.config import Settings

REDIS_STEPS = [0, 3, 6, 9]  # kombu's default priority_steps
MAX_LEVEL = 9  # virtual transports clamp message priorities to 0..9


def broker_kind(settings: Settings) -> str:
    url = settings.broker.url
    if url.startswith(("redis://", "rediss://")):
        return "redis"
    if url.startswith("memory://"):
        return "memory"
    return "amqp"


def priority_levels(settings: Settings) -> dict[str, int]:
    """Each configured priority name's number on this broker."""
    names = settings.tasks.priorities
    kind = broker_kind(settings)
    if kind == "redis":
        levels = REDIS_STEPS if len(names) <= len(REDIS_STEPS) else list(range(MAX_LEVEL + 1))
        return {name: levels[min(i, MAX_LEVEL)] for i, name in enumerate(names)}
    top = len(names) - 1 if kind == "amqp" else min(len(names) - 1, MAX_LEVEL)
    return {name: max(top - i, 0) for i, name in enumerate(names)}


def redis_steps(settings: Settings) -> list[int]:
    """The lists a worker polls: the levels in use plus kombu's defaults (plain clients)."""
    return sorted(set(priority_levels(settings).values()) | set(REDIS_STEPS))


class _Wakeup:
    """What a consumer of the in-process broker waits for instead of sleeping between polls:
    anything that may let it take a message (a put, or an ack that frees its prefetch window).

    A counter rather than a flag: a consumer notes it before looking at its queues and waits
    only while it is unchanged, so a put between the look and the wait is never missed.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._count = 0

    def seen(self) -> int:
        return self._count

    def notify(self) -> None:
        with self._changed:
            self._count += 1
            self._changed.notify_all()

    def wait(self, seen: int, timeout: float | None) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self._count != seen, timeout)


# One for the process, as the queues are: producers and consumers have their own connections.
WAKEUP = _Wakeup()


class _PriorityChannel(memory.Channel):
    """kombu's memory channel with a priority queue per queue name."""

    queues: dict[str, PriorityQueue[tuple[int, int, Any]]] = {}  # noqa: RUF012 (shared state)
    _order = itertools.count()

    def _new_queue(self, queue: str, **kwargs: Any) -> None:
        self._queue_for(queue)

    def _queue_for(self, queue: str) -> PriorityQueue[tuple[int, int, Any]]:
        if queue not in self.queues:
            self.queues[queue] = PriorityQueue()
        return self.queues[queue]

    def _put(self, queue: str, message: Any, **kwargs: Any) -> None:
        priority = self._get_message_priority(message, reverse=False)  # type: ignore[no-untyped-call]
        self._queue_for(queue).put((-priority, next(self._order), message))
        WAKEUP.notify()

    def _put_fanout(self, exchange: str, message: Any, routing_key: Any = None, **kw: Any) -> None:
        for queue in self._lookup(exchange, routing_key):  # type: ignore[no-untyped-call]
            self._put(queue, message)

    def _get(self, queue: str, timeout: float | None = None) -> Any:
        try:
            return self._queue_for(queue).get(block=False)[2]
        except Empty:
            raise Empty() from None

    def basic_ack(self, delivery_tag: Any, multiple: bool = False) -> None:
        """A consumer at its prefetch limit may take the next message now."""
        super().basic_ack(delivery_tag, multiple)  # type: ignore[no-untyped-call]
        WAKEUP.notify()

    def basic_reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        super().basic_reject(delivery_tag, requeue)  # type: ignore[no-untyped-call]
        WAKEUP.notify()


class PriorityMemoryTransport(memory.Transport):
    """The in-process transport whose consumer blocks until a message may be there."""

    Channel = _PriorityChannel
    _closed = False

    def establish_connection(self) -> Any:
        self._closed = False
        return super().establish_connection()  # type: ignore[no-untyped-call]

    def close_connection(self, connection: Any) -> None:
        """Closing wakes a consumer waiting on this connection (a worker's stop)."""
        self._closed = True
        super().close_connection(connection)  # type: ignore[no-untyped-call]
        WAKEUP.notify()

    def drain_events(self, connection: Any, timeout: float | None = None, **kw: Any) -> None:
        """Deliver one message; with none to take, wait for a put or an ack (at most
        `timeout`) instead of kombu's sleep of `polling_interval` between polls."""
        deadline = None if timeout is None else monotonic() + timeout
        cycle = self.cycle
        assert cycle is not None  # made by the constructor
        while True:
            seen = WAKEUP.seen()
            try:
                cycle.get(self._deliver, timeout=timeout)  # type: ignore[no-untyped-call]
                return
            except Empty:
                pass
            left = None if deadline is None else deadline - monotonic()
            if self._closed or (left is not None and left <= 0):
                raise TimeoutError()  # what kombu raises when nothing came in time
            WAKEUP.wait(seen, left)
