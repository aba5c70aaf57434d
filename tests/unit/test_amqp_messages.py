"""The AMQP properties corehub encodes are the bytes py-amqp would write for them."""

from __future__ import annotations

from functools import partial
from typing import Any

import amqp
import pytest
from kombu.transport import pyamqp

from corehub.engine import amqp_messages
from corehub.engine.publisher import Outgoing

ID = "5f0c6b1e-8a43-4f57-9d52-0b7c1a0e2f11"


def outgoing(
    priority: int | None = None, reply_to: str | None = "reply", **headers: Any
) -> Outgoing:
    base: dict[str, Any] = {
        "lang": "py",
        "task": "echo_bot.echo",
        "id": ID,
        "shadow": None,
        "retries": 0,
        "timelimit": [None, None],
        "root_id": ID,
        "parent_id": None,
        "stamps": {},
        "corehub_recorded": True,
    }
    return Outgoing(
        queue="celery",
        body=b'[[], {}, {"callbacks": null}]',
        headers={**base, **headers},
        properties={"correlation_id": ID, "reply_to": reply_to, "argsrepr": "(in corehub)"},
        priority=priority,
        delivery_mode=2,
    )


def py_amqp(message: Outgoing) -> bytes:
    """What kombu's py-amqp channel makes of this message, encoded by py-amqp."""
    prepare = partial(pyamqp.Channel.prepare_message, None)  # it uses nothing of its channel
    encoded: bytes = message.prepared(prepare)._serialize_properties()
    return encoded


def sent_properties(message: Any) -> dict[str, Any]:
    """A message's properties as the broker reads them off the wire."""
    decoded = amqp.Message()
    decoded._load_properties(60, message._serialize_properties(), 0)  # class 60: basic
    properties: dict[str, Any] = decoded.properties
    return properties


CASES = [
    outgoing(),
    outgoing(priority=0),
    outgoing(priority=9, reply_to=None),
    outgoing(task="café.tâche", origin="gen1@hôte"),
    outgoing(timelimit=[10, 5.5], retries=2**40, eta="2026-11-25T00:00:00+00:00"),
    # Equal in Python, typed apart by py-amqp: each must keep its own encoding.
    outgoing(timelimit=[1, None], group_index=1),
    outgoing(timelimit=[1.0, None], group_index=True),
    outgoing(timelimit=[True, None], group_index=1.0),
    outgoing(stamps={"a": [1, {"b": None}]}, stamped_headers=["a"], corehub_step=False),
    outgoing(parent_id="e7d9a0c2-1111-4c3b-8e5f-000000000000", root_id="a" * 200),
    # Equal in Python and hashed alike, encoded apart: never taken from the memo.
    outgoing(timelimit=[0.0, None], retries=0.0),
    outgoing(timelimit=[-0.0, None], retries=-0.0),
    outgoing(stamped_headers=[[1], "x"]),
    outgoing(stamped_headers=[[True], "x"]),
]


@pytest.mark.parametrize("message", CASES, ids=range(len(CASES)))
def test_properties_are_the_bytes_py_amqp_writes(message: Outgoing) -> None:
    assert amqp_messages.properties(message) == py_amqp(message)


def test_shared_entries_encoded_once_keep_their_types_on_the_next_message() -> None:
    for message in CASES + CASES[::-1]:  # the second pass reads the memo
        assert amqp_messages.properties(message) == py_amqp(message)


def test_a_message_decodes_to_the_properties_it_was_given() -> None:
    message = outgoing(priority=3)
    assert sent_properties(amqp_messages.EncodedMessage(message)) == {
        "content_type": "application/json",
        "content_encoding": "utf-8",
        "application_headers": message.headers,
        "delivery_mode": 2,
        "priority": 3,
        "correlation_id": ID,
        "reply_to": "reply",
    }


def test_a_property_py_amqp_encodes_but_this_does_not_fails_the_message() -> None:
    message = outgoing()
    message.properties["expiration"] = "60000"
    with pytest.raises(ValueError, match="expiration"):
        amqp_messages.properties(message)


class Channel:
    """What `publish` uses of py-amqp's channel, recording which way each message went."""

    def __init__(self, confirm: bool = False) -> None:
        self.sent: list[tuple[str, str]] = []
        if confirm:  # as py-amqp's channel sets itself up in confirm mode
            self.basic_publish = self.basic_publish_confirm

    def _basic_publish(self, message: Any, exchange: str, routing_key: str) -> None:
        self.sent.append(("basic_publish", self._id(message)))

    basic_publish = _basic_publish

    def basic_publish_confirm(self, message: Any, exchange: str, routing_key: str) -> None:
        self.sent.append(("confirmed", self._id(message)))

    def send_method(self, method: Any, signature: str, args: Any, message: Any) -> None:
        assert (method, signature, args) == (
            amqp.spec.Basic.Publish,
            "Bssbb",
            (0, "", "celery", False, False),
        )
        self.sent.append(("send_method", self._id(message)))

    @staticmethod
    def _id(message: Any) -> str:
        return str(sent_properties(message)["application_headers"]["retries"])


def test_the_socket_is_polled_every_fiftieth_message_and_at_the_last() -> None:
    channel = Channel()
    amqp_messages.publish(channel, [outgoing(retries=i) for i in range(120)])
    polled = [int(i) for way, i in channel.sent if way == "basic_publish"]
    assert polled == [0, 50, 100, 119]
    assert [int(i) for _, i in channel.sent] == list(range(120))


def test_a_channel_in_confirm_mode_confirms_every_message() -> None:
    channel = Channel(confirm=True)
    amqp_messages.publish(channel, [outgoing(retries=i) for i in range(3)])
    assert channel.sent == [("confirmed", "0"), ("confirmed", "1"), ("confirmed", "2")]
