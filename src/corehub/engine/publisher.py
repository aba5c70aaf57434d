"""Hands committed tasks to the broker. Failures are returned, never raised: the row is the
promise, and the relay keeps it.

A batch is published without `send_task`'s per-call work (registry lookup, routing, producer
and declaration checks, result object, argument reprs, serializing through kombu's registry):
each message is Celery's task protocol 2, built here with the headers and properties
`send_task` gives it (tests compare the two), its body encoded by orjson. On Redis a chunk's
messages are pushed in one round trip, one LPUSH per priority list (`redis_lists`); on
RabbitMQ they go to py-amqp's channel with their properties encoded by `amqp_messages`; on
other transports to kombu's `Producer.publish` inside `Producer.batch()`. Whatever the batch
path cannot reproduce (routes, a task's own options, listeners to Celery's publish signals, a
result backend that tracks calls), or fails to hand over, goes through `send_task` one message
at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from celery import signals
from celery.app.task import extract_exec_options
from celery.backends.base import BaseBackend
from celery.utils.nodenames import anon_nodename
from kombu.entity import maybe_delivery_mode

from corehub import jsoncodec
from corehub.engine import amqp_messages, redis_lists
from corehub.engine.app import CorehubCelery
from corehub.engine.headers import (
    ARGUMENTS_NOT_REPEATED,
    CONTENT_ENCODING,
    CONTENT_TYPE,
    RECORDED_HEADER,
    STEP_HEADER,
)
from corehub.engine.priorities import priority_levels
from corehub.store import TaskRecord

log = logging.getLogger("corehub.engine")
# kombu's number for a delivery mode given as a name (Celery's default is "persistent").
_delivery_mode: Callable[[int | str], int] = maybe_delivery_mode

BATCH_SIZE = 500  # tasks per Redis round trip: a 1,000-task request costs two
# A registered task's own execution options that publishing overrides, passing its own values
# as send_task's caller; of the others only the app's serializer is reproduced. Any other one
# changes routing or encoding, so a batch with such a task goes through send_task.
_OVERRIDDEN = frozenset({"queue", "priority", "time_limit", "soft_time_limit"})


class CeleryPublisher:
    def __init__(self, app: CorehubCelery, retries: int = 1, batch_size: int = BATCH_SIZE) -> None:
        self.app = app
        self.levels = priority_levels(app.context.settings)  # name -> the broker's number
        self.batch_size = batch_size
        self.retry_policy = {
            "max_retries": retries,
            "interval_start": 0.1,
            "interval_step": 0.2,
            "interval_max": 0.5,
        }

    def publish(self, tasks: Sequence[TaskRecord]) -> list[str]:
        """The ids handed to the broker, in order; short when publishing failed part way."""
        done: list[str] = []
        try:
            with self.app.producer_or_acquire() as producer:
                # Connect with the publish retries: a dead broker costs what one send_task
                # costs (the batch would otherwise open its channel with kombu's ~6 s default).
                producer.connection.ensure_connection(**self.retry_policy)
                try:
                    self._publish_batched(producer, tasks, done)
                except Exception as exc:
                    # Delivery of the failed chunk is uncertain: sending it again is harmless
                    # (the claim is a compare-and-set), and send_task retries and reconnects.
                    log.warning(
                        "batched publish stopped after %d of %d tasks, sending the rest one "
                        "by one: %s: %s",
                        len(done),
                        len(tasks),
                        type(exc).__name__,
                        exc,
                    )
                for task in tasks[len(done) :]:
                    self._send_one(producer, task)
                    done.append(task.id)
        except Exception as exc:
            log.warning(
                "broker publish failed after %d of %d tasks: %s: %s",
                len(done),
                len(tasks),
                type(exc).__name__,
                exc,
            )
        return done

    def _send_one(self, producer: Any, task: TaskRecord) -> None:
        self.app.send_task(
            task.name,
            args=task.args,
            kwargs=task.kwargs,
            task_id=task.id,
            queue=task.queue,
            priority=self.levels.get(task.priority),
            soft_time_limit=task.soft_time_limit,
            time_limit=task.time_limit,
            headers=_headers(task),
            producer=producer,
            retry=True,
            retry_policy=self.retry_policy,
            **ARGUMENTS_NOT_REPEATED,
        )

    def _publish_batched(self, producer: Any, tasks: Sequence[TaskRecord], done: list[str]) -> None:
        """What send_task does for each task, with the per-batch parts done once. Appends the
        ids of each chunk once the broker has it; publishes nothing if the batch needs routing
        or publishing this path does not reproduce."""
        queues = self._destinations(tasks)
        if queues is None:
            return
        app = self.app
        for queue in queues.values():
            producer.maybe_declare(queue)  # send_task checks this on every message
        parent = app.current_worker_task  # a task publishing (pipeline steps): its children
        root_id = parent_id = None
        if parent is not None:
            root_id = parent.request.root_id or parent.request.id
            parent_id = parent.request.id
        common = _Common(
            reply_to=app.thread_oid,
            origin=anon_nodename(),  # what Celery computes for each message: this process
            root_id=root_id,
            parent_id=parent_id,
            delivery_modes={
                name: _delivery_mode(
                    queue.exchange.delivery_mode or app.conf.task_default_delivery_mode
                )
                for name, queue in queues.items()
            },
        )
        channel = producer.channel
        to_redis = redis_lists.pushes_directly(channel, list(queues))
        to_amqp = amqp_messages.publishes_directly(channel)
        publish = producer.publish
        for chunk in _chunks(tasks, self.batch_size):
            messages = [common.outgoing(task, self.levels.get(task.priority)) for task in chunk]
            if to_redis:
                redis_lists.push(channel, messages)
            elif to_amqp:
                amqp_messages.publish(channel, messages)
            else:
                with producer.batch():
                    for message in messages:
                        publish(
                            message.body,
                            exchange="",  # a direct queue: send_task's routing key is its name
                            routing_key=message.queue,
                            content_type=CONTENT_TYPE,
                            content_encoding=CONTENT_ENCODING,
                            headers=message.headers,
                            priority=message.priority,
                            delivery_mode=message.delivery_mode,
                            declare=[],  # declared above
                            retry=False,  # a failed chunk goes through send_task, which retries
                            **message.properties,
                        )
            # Pushed, or flushed on leaving kombu's batch (other transports: sent at once).
            done.extend(task.id for task in chunk)
            if parent is not None:
                for task in chunk:
                    parent.add_trail(app.AsyncResult(task.id))

    def _destinations(self, tasks: Sequence[TaskRecord]) -> dict[str, Any] | None:
        """Each queue name's declaration, or None when send_task would route or encode some
        task differently: task_routes, a registered task's own publish options, or a queue
        on a non-direct exchange (published through the exchange, a lookup per message)."""
        amqp, conf = self.app.amqp, self.app.conf
        if amqp.routes or not _publishes_as_built(self.app):
            return None
        serializer = conf.task_serializer
        registered = self.app._tasks  # as send_task: without finalizing the app
        for name in {task.name for task in tasks}:
            task_type = registered.get(name)
            if task_type is None:
                continue
            options = extract_exec_options(task_type)
            if options.get("serializer") not in (None, serializer) or any(
                value is not None
                for key, value in options.items()
                if key not in _OVERRIDDEN and key != "serializer"
            ):
                return None
        queues = {name: amqp.queues[name] for name in {task.queue for task in tasks}}
        if any(queue.exchange.type != "direct" for queue in queues.values()):
            return None
        return queues

    def revoke(self, task_id: str, *, terminate: bool) -> None:
        """Best effort: the record already says cancelled, and the claim and finish
        compare-and-sets enforce it whether or not this broadcast arrives."""
        try:
            self.app.control.revoke(task_id, terminate=terminate, signal="SIGTERM")
        except Exception as exc:
            log.warning("revoke of %s not broadcast: %s: %s", task_id, type(exc).__name__, exc)


def _headers(task: TaskRecord) -> dict[str, Any]:
    """Every task published here has its row (its worker may acknowledge it when taken); a
    pipeline step says so, and its worker claims it as one at once (one round trip)."""
    if task.pipeline_run_id is not None:
        return {RECORDED_HEADER: True, STEP_HEADER: True}
    return {RECORDED_HEADER: True}


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message as kombu's `Producer.publish` is given it, to a queue on the default
    exchange (`redis_lists.push` builds kombu's Redis envelope of it)."""

    queue: str
    body: bytes
    headers: dict[str, Any]
    properties: dict[str, Any]
    priority: int | None
    delivery_mode: int  # kombu's number for it (2: persistent)

    def prepared(self, prepare_message: Callable[..., Any]) -> Any:
        """What a kombu channel's `prepare_message` makes of this message, given what
        `Producer.publish` gives it."""
        return prepare_message(
            self.body,
            self.priority,
            CONTENT_TYPE,
            CONTENT_ENCODING,
            self.headers,
            {**self.properties, "delivery_mode": self.delivery_mode},
        )


# The third part of a protocol-2 body: no canvas (corehub's pipelines live in its database).
EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


@dataclass(frozen=True)
class _Common:
    """What every message of one batch shares."""

    reply_to: str
    origin: str
    root_id: str | None
    parent_id: str | None
    delivery_modes: dict[str, int]

    def outgoing(self, task: TaskRecord, priority: int | None) -> Outgoing:
        """The message Celery's `as_task_v2` and `send_task_message` make of this task (no
        countdown, expiry, group or stamps: corehub keeps those in its database)."""
        headers: dict[str, Any] = {
            "lang": "py",
            "task": task.name,
            "id": task.id,
            "shadow": None,
            "eta": None,
            "expires": None,
            "group": None,
            "group_index": None,
            "retries": 0,
            "timelimit": [task.time_limit, task.soft_time_limit],
            "root_id": self.root_id or task.id,
            "parent_id": self.parent_id,
            "origin": self.origin,
            "ignore_result": None,  # as send_task passes it
            "replaced_task_nesting": 0,
            "stamped_headers": None,
            "stamps": {},
            **ARGUMENTS_NOT_REPEATED,
        }
        headers.update(_headers(task))
        properties = {
            "correlation_id": task.id,
            "reply_to": self.reply_to,
            **ARGUMENTS_NOT_REPEATED,  # send_task copies its options into the properties
        }
        return Outgoing(
            queue=task.queue,
            # The arguments were checked by jsoncodec.dumps when the task was accepted.
            body=jsoncodec.dumps_accepted([task.args, task.kwargs, EMBED]),
            headers=headers,
            properties=properties,
            priority=priority,
            delivery_mode=self.delivery_modes[task.queue],
        )


def _publishes_as_built(app: CorehubCelery) -> bool:
    """Whether a message built here is all that send_task would do: nobody listens to
    Celery's publish signals (tracing hooks that add headers), no sent events, no
    compression, and the result backend does nothing when a task is called."""
    conf = app.conf
    return (
        not signals.before_task_publish.receivers
        and not signals.after_task_publish.receivers
        and not signals.task_sent.receivers
        and not conf.task_send_sent_event
        and not conf.task_compression
        and conf.task_serializer == "json"
        and type(app.backend).on_task_call is BaseBackend.on_task_call
    )


def _chunks(tasks: Sequence[TaskRecord], size: int) -> Iterator[Sequence[TaskRecord]]:
    for start in range(0, len(tasks), size):
        yield tasks[start : start + size]
