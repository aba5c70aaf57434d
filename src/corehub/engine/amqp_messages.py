"""Messages handed to py-amqp's channel directly, their AMQP properties encoded here.

py-amqp encodes a message's properties, Celery's twenty headers among them, entry by entry
in Python: about half of a publish's CPU, and kombu's `Producer.publish` adds a sixth more.
The messages of a batch share most headers. This encodes each shared header entry once per
process (an id, unique to its message, is encoded directly), to the same bytes py-amqp
writes (tests compare them); py-amqp's channel frames and sends the messages.
"""

from __future__ import annotations

import sys
from collections.abc import Hashable, Sequence
from io import BytesIO
from struct import pack
from typing import TYPE_CHECKING, Any

from amqp import Message, spec
from amqp.serialization import _write_item

if TYPE_CHECKING:
    from corehub.engine.publisher import Outgoing

CONTENT_TYPE = "application/json"
CONTENT_ENCODING = "utf-8"
# Headers whose value is its message's own: not worth keeping once encoded.
UNIQUE = frozenset({"id", "root_id", "parent_id"})
MEMO_LIMIT = 4096  # distinct shared entries kept (task names, origins, constants)
_memo: dict[tuple[str, type, Hashable], bytes] = {}

_PUBLISH, _PUBLISH_ARGS = spec.Basic.Publish, "Bssbb"  # as py-amqp's basic_publish sends it
# Basic-class property flags, in the order AMQP 0-9-1 lists the properties.
_CONTENT_TYPE, _CONTENT_ENCODING, _HEADERS, _DELIVERY_MODE = 0x8000, 0x4000, 0x2000, 0x1000
_PRIORITY, _CORRELATION_ID, _REPLY_TO = 0x0800, 0x0400, 0x0200


def publishes_directly(channel: Any) -> bool:
    """Whether `channel` is kombu's py-amqp channel (kombu imports that transport only for
    an AMQP broker)."""
    transport = sys.modules.get("kombu.transport.pyamqp")
    return transport is not None and isinstance(channel, transport.Channel)


def publish(channel: Any, messages: Sequence[Outgoing]) -> None:
    """Publish each message to its queue on the default exchange, in order.

    py-amqp's `basic_publish` first polls the socket for a `connection.blocked` notice, a
    system call per message; here the first message of a chunk does that, the rest are sent
    as it then sends them. A channel in confirm mode (not one corehub opens: the relay, not
    a confirm, keeps a lost message) waits for each message's confirm, as py-amqp does."""
    if not messages:
        return
    if channel.basic_publish != channel._basic_publish:  # confirm mode
        for message in messages:
            channel.basic_publish(EncodedMessage(message), exchange="", routing_key=message.queue)
        return
    first, *rest = messages
    channel.basic_publish(EncodedMessage(first), exchange="", routing_key=first.queue)
    send = channel.send_method
    for message in rest:
        send(_PUBLISH, _PUBLISH_ARGS, (0, "", message.queue, False, False), EncodedMessage(message))


class EncodedMessage(Message):  # type: ignore[misc]
    """A message whose properties are encoded once, here, instead of by py-amqp."""

    def __init__(self, message: Outgoing) -> None:
        super().__init__(message.body)
        self._encoded = properties(message)

    def _serialize_properties(self) -> bytes:
        return self._encoded


def properties(message: Outgoing) -> bytes:
    """The content header's property flags and list, as py-amqp's `_serialize_properties`
    writes them for the properties kombu's py-amqp channel gives it (others are dropped
    there too)."""
    flags = _CONTENT_TYPE | _CONTENT_ENCODING | _HEADERS | _DELIVERY_MODE
    parts = [_short(CONTENT_TYPE), _short(CONTENT_ENCODING), _table(message.headers)]
    parts.append(pack("B", message.delivery_mode))
    if message.priority is not None:
        flags |= _PRIORITY
        parts.append(pack("B", message.priority))
    correlation_id = message.properties.get("correlation_id")
    if correlation_id is not None:
        flags |= _CORRELATION_ID
        parts.append(_short(correlation_id))
    reply_to = message.properties.get("reply_to")
    if reply_to is not None:
        flags |= _REPLY_TO
        parts.append(_short(reply_to))
    return pack(">H", flags) + b"".join(parts)


def _short(value: str) -> bytes:
    raw = value.encode("utf-8", "surrogatepass")
    return pack("B", len(raw)) + raw


def _table(headers: dict[str, Any]) -> bytes:
    data = b"".join([_entry(key, value) for key, value in headers.items()])
    return pack(">I", len(data)) + data


def _entry(key: str, value: Any) -> bytes:
    """One table entry: its key as a short string, then its value as py-amqp types it."""
    if key in UNIQUE and type(value) is str:
        raw = value.encode("utf-8", "surrogatepass")
        return _short(key) + pack(">cI", b"S", len(raw)) + raw
    # Typed, so that True, 1 and 1.0 (equal in Python) keep py-amqp's own encodings.
    if type(value) is list:
        memo = (key, list, tuple((type(item), item) for item in value))
    else:
        memo = (key, type(value), value)
    try:
        return _memo[memo]
    except TypeError:  # unhashable (a dict, a list holding one): encoded every time
        return _encoded_entry(key, value)
    except KeyError:
        encoded = _encoded_entry(key, value)
        if len(_memo) < MEMO_LIMIT:
            _memo[memo] = encoded
        return encoded


def _encoded_entry(key: str, value: Any) -> bytes:
    out = BytesIO()
    _write_item(value, out.write, [])
    return _short(key) + out.getvalue()
