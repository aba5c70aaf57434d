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

from corehub.engine.headers import ARGUMENTS_NOT_REPEATED, CONTENT_ENCODING, CONTENT_TYPE

if TYPE_CHECKING:
    from corehub.engine.publisher import Outgoing

# Headers whose value is its message's own: not worth keeping once encoded.
UNIQUE = frozenset({"id", "root_id", "parent_id"})
POLL_EVERY = 50  # messages per poll of the socket for what the broker sent
MEMO_LIMIT = 4096  # distinct shared entries kept (task names, origins, constants)
_memo: dict[tuple[str, type, Hashable], bytes] = {}
_MEMO_SCALARS = frozenset({str, int, bool, type(None)})

_PUBLISH, _PUBLISH_ARGS = spec.Basic.Publish, "Bssbb"  # as py-amqp's basic_publish sends it
# What `properties` encodes, and what py-amqp drops (not among Message.PROPERTIES).
_ENCODED_HERE = frozenset({"correlation_id", "reply_to"}) | (
    frozenset(ARGUMENTS_NOT_REPEATED) - {name for name, _ in Message.PROPERTIES}
)
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

    py-amqp's `basic_publish` first polls the socket for what the broker sent (a
    `connection.blocked` notice, a channel it closed), a system call per message; here every
    `POLL_EVERY`th message and the last one go through it, the others are sent as it then
    sends them. A channel the broker closed mid-chunk fails the chunk at the next poll (and
    its messages go through `send_task`); what it dropped after the last poll is the relay's,
    like any message a broker loses. A channel in confirm mode (not one corehub opens) waits
    for each message's confirm, as py-amqp does."""
    basic_publish, send = channel.basic_publish, channel.send_method
    confirming = basic_publish != channel._basic_publish
    last = len(messages) - 1
    for i, message in enumerate(messages):
        encoded = EncodedMessage(message)
        if confirming or i % POLL_EVERY == 0 or i == last:
            basic_publish(encoded, exchange="", routing_key=message.queue)
        else:
            send(_PUBLISH, _PUBLISH_ARGS, (0, "", message.queue, False, False), encoded)


class EncodedMessage(Message):  # type: ignore[misc]
    """A message whose properties are encoded once, here, instead of by py-amqp."""

    def __init__(self, message: Outgoing) -> None:
        super().__init__(message.body)
        self._encoded = properties(message)

    def _serialize_properties(self) -> bytes:
        return self._encoded


def properties(message: Outgoing) -> bytes:
    """The content header's property flags and list, as py-amqp's `_serialize_properties`
    writes them for what kombu's py-amqp channel gives it. Properties py-amqp does not know
    (Celery's argument reprs) it drops, and so does this; one it knows but this does not
    encode fails the chunk, which then goes through `send_task`."""
    if not _ENCODED_HERE.issuperset(message.properties):
        raise ValueError(f"properties encoded by py-amqp only: {sorted(message.properties)}")
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
    # Only values whose equality is their encoding's: typed, so that True and 1 (equal in
    # Python) keep py-amqp's own encodings; no floats (0.0 == -0.0), nothing nested.
    kind = type(value)
    if kind in _MEMO_SCALARS:
        memo: tuple[str, type, Hashable] = (key, kind, value)
    elif kind is list and all(type(item) in _MEMO_SCALARS for item in value):
        memo = (key, list, tuple((type(item), item) for item in value))
    else:
        return _encoded_entry(key, value)
    try:
        return _memo[memo]
    except KeyError:
        encoded = _encoded_entry(key, value)
        if len(_memo) < MEMO_LIMIT:
            _memo[memo] = encoded
        return encoded


def _encoded_entry(key: str, value: Any) -> bytes:
    out = BytesIO()
    _write_item(value, out.write, [])
    return _short(key) + out.getvalue()
