"""kombu's Redis transport, with one client per channel for the calls that bring none.

kombu's Redis channel builds a new `redis.Redis` (and its table of about 170 response
callbacks) each time it needs a client it was not given: every publish, and in a worker
every message taken (`QoS.append`) and acknowledged (`QoS.ack`). That construction was about
a sixth of a Redis worker's consumer time. A `redis.Redis` may be shared between threads
(each command takes a connection from the pool), so the channel keeps one, made from the same
pool and dropped with it when kombu disconnects the pool (a fork, a closed channel).
Configured for Redis brokers only (`corehub.engine.app`), so other brokers never import it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kombu.transport import redis


class Channel(redis.Channel):
    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        if client:
            yield client
            return
        shared = self.__dict__.get("_shared_client")
        if shared is None:
            shared = self.__dict__["_shared_client"] = self._create_client()  # type: ignore[no-untyped-call]
        yield shared

    def _disconnect_pools(self) -> None:
        self.__dict__.pop("_shared_client", None)
        super()._disconnect_pools()  # type: ignore[no-untyped-call]


class Transport(redis.Transport):
    Channel = Channel
