"""Messages pushed onto kombu's Redis lists directly, one LPUSH per list for a whole chunk.

kombu's Redis transport publishes a message by wrapping it in an envelope (the body base64
encoded, a delivery tag, where it was sent), encoding that with the standard library's JSON
encoder and buffering one LPUSH per message; that was half of a bulk submit's publishing time.
This builds the same envelope with kombu's own channel methods, encodes it with orjson and
sends each list's messages in one LPUSH: a consumer reads the same dict either way (tests
compare the two). Only for what kombu's `_put` does plainly: a queue with a Redis expiry set
(`x-expires`), or a channel not encoding bodies as base64, goes through kombu.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

from corehub.ids import random_uuid

if TYPE_CHECKING:
    from corehub.engine.publisher import Outgoing


def pushes_directly(channel: Any, queues: Sequence[str]) -> bool:
    """Whether `channel` is kombu's Redis channel, encoding bodies as base64 (its default),
    and none of `queues` expires. kombu imports its Redis transport (and redis-py) only for a
    Redis broker, and so does this: a hub on RabbitMQ or in memory never loads them."""
    redis_transport = sys.modules.get("kombu.transport.redis")
    if redis_transport is None or not isinstance(channel, redis_transport.Channel):
        return False
    if channel.body_encoding != "base64":
        return False
    expires = channel._expires
    return not any(queue in expires for queue in queues)


def push(channel: Any, messages: Sequence[Outgoing]) -> None:
    """LPUSH the messages in order (a consumer's BRPOP takes the first one first), one
    command per priority list, all in one round trip."""
    lists: dict[str, list[bytes]] = {}
    for message in messages:
        envelope = message.prepared(channel.prepare_message)
        # What kombu's basic_publish adds (`_inplace_augment_message`).
        envelope["body"], encoding = channel.encode_body(envelope["body"], channel.body_encoding)
        properties = envelope["properties"]
        properties["body_encoding"] = encoding
        properties["delivery_tag"] = random_uuid()  # what kombu uses: a uuid4
        properties["delivery_info"].update(exchange="", routing_key=message.queue)
        key = channel._q_for_pri(message.queue, channel._get_message_priority(envelope))
        lists.setdefault(key, []).append(orjson.dumps(envelope))
    with channel.conn_or_acquire() as client, client.pipeline(transaction=False) as pipe:
        for key, values in lists.items():
            pipe.lpush(key, *values)
        pipe.execute()
