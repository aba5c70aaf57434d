"""The AMQP properties corehub encodes are the bytes py-amqp would write for them."""

from __future__ import annotations

from typing import Any

import amqp
import pytest

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
    """What kombu's py-amqp channel gives py-amqp for this message, encoded by py-amqp."""
    encoded: bytes = amqp.Message(
        message.body,
        priority=message.priority,
        content_type="application/json",
        content_encoding="utf-8",
        application_headers=message.headers,
        delivery_mode=message.delivery_mode,
        **message.properties,
    )._serialize_properties()
    return encoded


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
]


@pytest.mark.parametrize("message", CASES, ids=range(len(CASES)))
def test_properties_are_the_bytes_py_amqp_writes(message: Outgoing) -> None:
    assert amqp_messages.properties(message) == py_amqp(message)


def test_shared_entries_encoded_once_keep_their_types_on_the_next_message() -> None:
    for message in CASES + CASES[::-1]:  # the second pass reads the memo
        assert amqp_messages.properties(message) == py_amqp(message)


def test_a_message_decodes_to_the_properties_it_was_given() -> None:
    message = outgoing(priority=3)
    encoded = amqp_messages.EncodedMessage(message)._serialize_properties()
    decoded = amqp.Message()
    decoded._load_properties(60, encoded, 0)  # class 60: basic
    assert decoded.properties == {
        "content_type": "application/json",
        "content_encoding": "utf-8",
        "application_headers": message.headers,
        "delivery_mode": 2,
        "priority": 3,
        "correlation_id": ID,
        "reply_to": "reply",
    }
