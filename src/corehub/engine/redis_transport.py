# mypy: disable-error-code="no-untyped-call"
"""kombu's Redis transport, with two costs of each message taken out of a worker's loop.

- **One client per channel.** kombu's Redis channel builds a new `redis.Redis` (and its table
  of about 170 response callbacks) each time it needs a client it was not given: every
  publish, and in a worker every message taken and acknowledged. A `redis.Redis` may be shared
  between threads (each command takes a connection from the pool), so the channel keeps one,
  made from the same pool and dropped with it when kombu disconnects the pool (a fork, a
  closed channel).
- **No Redis bookkeeping for a message whose row keeps it.** kombu emulates acknowledgements
  on Redis by writing each message taken into an "unacked" hash (one round trip) and deleting
  it when acknowledged (another); a message left there longer than the visibility timeout
  (`broker.visibility_timeout_seconds`, an hour) is delivered again. A message corehub
  published carries `corehub_recorded` (`corehub.engine.headers`): its task's row is its
  keeper, and a worker acknowledges it as soon as a pool process takes it (`worker.early_ack`).
  Such a message is held in the worker's memory only; lost with its worker, its task is still
  `queued` and the relay publishes it again after `scheduler.redelivery_seconds` (five
  minutes), sooner than the hash would. A warm stop, or a reject asking for a requeue, pushes
  it back onto its list as kombu restores any other. With `worker.early_ack: false`, and for
  a plain Celery client's messages, kombu's bookkeeping is kept as it is.

Configured for `redis://` brokers only (`corehub.engine.app`), so other brokers never import
it; `rediss://` keeps kombu's own transport, which is what turns TLS on for that scheme.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kombu.transport import redis, virtual

# The transport option naming the header that marks a message its row keeps (set by
# `corehub.engine.app` when workers acknowledge such messages early).
UNTRACKED_OPTION = "corehub_untracked_header"


class QoS(redis.QoS):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._untracked: dict[Any, Any] = {}  # delivery tag -> message, held here alone

    def _keeps_itself(self, message: Any) -> bool:
        header = self.channel.corehub_untracked_header
        return bool(header and (message.headers or {}).get(header))

    def append(self, message: Any, delivery_tag: Any) -> None:
        if not self._keeps_itself(message):
            super().append(message, delivery_tag)
            return
        self._untracked[delivery_tag] = message
        virtual.QoS.append(self, message, delivery_tag)

    def ack(self, delivery_tag: Any) -> None:
        if self._untracked.pop(delivery_tag, None) is None:
            super().ack(delivery_tag)
            return
        virtual.QoS.ack(self, delivery_tag)

    def reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        message = self._untracked.pop(delivery_tag, None)
        if message is None:
            super().reject(delivery_tag, requeue=requeue)
            return
        if requeue:
            self._push_back(delivery_tag, message, leftmost=True)
        virtual.QoS.ack(self, delivery_tag)

    def restore_by_tag(self, tag: Any, client: Any = None, leftmost: bool = False) -> None:
        message = self._untracked.pop(tag, None)
        if message is None:
            super().restore_by_tag(tag, client=client, leftmost=leftmost)
            return
        self._push_back(tag, message, client, leftmost=leftmost)

    def _push_back(self, tag: Any, message: Any, client: Any = None, *, leftmost: bool) -> None:
        """What kombu does with a message restored from its hash (marked redelivered). If
        Redis refuses, the message stays held here, for the next restore."""
        delivery = message.delivery_info
        try:
            with self.channel.conn_or_acquire(client) as conn:
                pipe = conn.pipeline()
                self.channel._do_restore_message(
                    message._raw, delivery["exchange"], delivery["routing_key"], pipe, leftmost
                )
                pipe.execute()
        except Exception:
            self._untracked[tag] = message
            raise


class Channel(redis.Channel):
    QoS = QoS
    corehub_untracked_header: str | None = None
    from_transport_options = (*redis.Channel.from_transport_options, UNTRACKED_OPTION)  # type: ignore[assignment]

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        if client:
            yield client
            return
        shared = self.__dict__.get("_shared_client")
        if shared is None:
            shared = self.__dict__["_shared_client"] = self._create_client()
        yield shared

    def _disconnect_pools(self) -> None:
        self.__dict__.pop("_shared_client", None)
        super()._disconnect_pools()


class Transport(redis.Transport):
    Channel = Channel
