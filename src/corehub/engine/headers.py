"""Headers corehub puts on the messages it publishes, and what its workers make of them."""

from __future__ import annotations

from typing import Any, Protocol

from corehub.config import Settings

# Every message's body is JSON (protocol 2's args, kwargs and embed), encoded by orjson.
CONTENT_TYPE, CONTENT_ENCODING = "application/json", "utf-8"
# The message's task has a row already, so its ack may come before its claim
# (`corehub.engine.acks`). Messages from plain Celery clients lack it.
RECORDED_HEADER = "corehub_recorded"
# Celery copies a repr of the arguments into every message's headers, for its own logs and
# events. corehub keeps the arguments in its database and its logs redact them, so the
# headers say only that they are elsewhere (and the repr, as long as building the message,
# is not paid for).
ARGUMENTS_NOT_REPEATED = {"argsrepr": "(in corehub)", "kwargsrepr": "(in corehub)"}
# The task is a pipeline step, so the worker claims it as one first (on PostgreSQL that saves
# trying the plain claim); without it the plain claim goes first.
STEP_HEADER = "corehub_step"


class Fields(Protocol):
    """A message's headers, or the fields of the task request made of them."""

    def get(self, key: str, default: Any = None, /) -> Any: ...


def acked_when_taken(settings: Settings, fields: Fields) -> bool:
    """Whether a message with these headers (a task request's fields) is acknowledged as
    soon as a pool process takes it."""
    return settings.worker.early_ack and bool(fields.get(RECORDED_HEADER))
