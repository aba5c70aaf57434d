"""The Celery app built from settings, with one Celery task per registered task."""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import Celery, Task, signals
from celery.exceptions import Reject, TimeLimitExceeded

from corehub.config import Settings
from corehub.engine.context import EngineContext
from corehub.engine.execution import run_delivery
from corehub.engine.headers import (
    ARGUMENTS_NOT_REPEATED,
    RECORDED_HEADER,
    STEP_HEADER,
    acked_when_taken,
)
from corehub.engine.priorities import (
    PriorityMemoryTransport,
    broker_kind,
    priority_levels,
    redis_steps,
)
from corehub.errors import Unavailable
from corehub.registry import TaskSpec

log = logging.getLogger("corehub.engine")
UNAVAILABLE_PAUSE = 1.0


class CorehubCelery(Celery):  # type: ignore[misc]
    """A Celery app that carries the engine context its consumer and tasks need."""

    context: EngineContext


class CorehubTask(Task):  # type: ignore[misc]
    """Records what only the worker's main process sees: a hard time limit's kill. Its
    messages are acknowledged when their task ends, or when taken (`corehub.engine.acks`)."""

    Request = "corehub.engine.acks:EarlyAckRequest"

    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        if isinstance(exc, TimeLimitExceeded):
            limit = float(exc.args[0]) if exc.args else 0.0
            self.app.context.store.time_out(task_id, limit)


def create_celery(ctx: EngineContext) -> CorehubCelery:
    settings = ctx.settings
    app = CorehubCelery("corehub", broker=settings.broker.url, set_as_current=False)
    app.context = ctx
    transport_options: dict[str, Any] = {}
    if settings.broker.url.startswith(("redis://", "rediss://")):
        transport_options["visibility_timeout"] = settings.broker.visibility_timeout_seconds
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=settings.worker.prefetch_multiplier,
        task_ignore_result=True,
        task_store_errors_even_if_ignored=False,
        task_default_queue=settings.tasks.default_queue,
        task_serializer="json",
        accept_content=["json"],
        worker_consumer="corehub.engine.consumer:Consumer",
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options=transport_options,
        enable_utc=True,
    )
    _configure_broker(app, settings, transport_options)
    for spec in ctx.registry.tasks():
        _register(app, spec)
    # Outcomes waiting for a claim (corehub.engine.finishes) are written before a pool
    # process or a worker ends.
    signals.worker_process_shutdown.connect(ctx.finishes.flush)
    signals.worker_shutdown.connect(ctx.finishes.flush)
    if ctx.publisher is None:
        from corehub.engine.publisher import CeleryPublisher  # the publisher needs the app

        ctx.publisher = CeleryPublisher(app, retries=settings.broker.publish_retries)
    return app


def _configure_broker(app: CorehubCelery, settings: Settings, options: dict[str, Any]) -> None:
    """Workers take higher priorities first (see corehub.engine.priorities for each broker);
    a `redis://` broker also goes through corehub's transport (`corehub.engine.redis_transport`)."""
    levels = priority_levels(settings)
    app.conf.task_default_priority = levels[settings.tasks.default_priority]
    kind = broker_kind(settings)
    if kind == "redis":
        options["priority_steps"] = redis_steps(settings)
        # Not for `rediss://`: kombu turns TLS on only for a transport named by that scheme.
        if settings.broker.url.startswith("redis://"):
            app.conf.broker_transport = "corehub.engine.redis_transport:Transport"
            if settings.worker.early_ack:  # the transport's option, named without importing it
                options["corehub_untracked_header"] = RECORDED_HEADER
    elif kind == "memory":
        app.conf.broker_transport = PriorityMemoryTransport
    elif settings.broker.priority_queues and len(levels) > 1:
        app.conf.task_queue_max_priority = max(levels.values())


def _hand_back(task: Task, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Publish an acknowledged message again, as the broker would requeue an unacknowledged
    one. If the broker refuses it too, its row is still `queued`: the relay publishes it
    after `scheduler.redelivery_seconds`."""
    request = task.request
    delivery = request.delivery_info or {}
    hard, soft = request.timelimit or (None, None)
    try:
        task.apply_async(
            args,
            kwargs,
            task_id=request.id,
            queue=delivery.get("routing_key"),
            priority=delivery.get("priority"),
            headers={name: True for name in (RECORDED_HEADER, STEP_HEADER) if request.get(name)},
            time_limit=hard,
            soft_time_limit=soft,
            root_id=request.root_id,
            parent_id=request.parent_id,
            **ARGUMENTS_NOT_REPEATED,
        )
    except Exception as exc:
        log.warning(
            "task %s %s not handed back to the broker, left to the relay: %s: %s",
            task.name,
            request.id,
            type(exc).__name__,
            exc,
        )


def _register(app: CorehubCelery, spec: TaskSpec) -> None:
    ctx = app.context

    def run(self: Any, *args: Any, **kwargs: Any) -> None:
        queue = (self.request.delivery_info or {}).get("routing_key")
        step = bool(self.request.get(STEP_HEADER))  # message headers are request fields
        try:
            run_delivery(ctx, spec, self.request.id, queue, args, kwargs, step=step)
        except Unavailable as exc:
            # Without the database nothing can be claimed or recorded: hand the message back
            # after a pause (not in a tight loop); rescue covers an attempt that had started.
            log.warning("task %s %s requeued: %s", spec.name, self.request.id, exc.detail)
            time.sleep(UNAVAILABLE_PAUSE)
            if not acked_when_taken(ctx.settings, self.request):
                raise Reject(str(exc), requeue=True) from exc
            _hand_back(self, args, kwargs)  # its ack is spent: publish it again

    run.__name__ = spec.task
    run.__doc__ = spec.description
    options: dict[str, Any] = {}
    if spec.options.soft_time_limit:
        options["soft_time_limit"] = spec.options.soft_time_limit
    if spec.options.time_limit:
        options["time_limit"] = spec.options.time_limit
    app.task(name=spec.name, base=CorehubTask, bind=True, shared=False, typing=False, **options)(
        run
    )
