"""Messages Celery cannot run become failed task rows, logged without their bodies."""

from __future__ import annotations

import logging
from typing import Any

from celery.worker.consumer import Consumer as CeleryConsumer

from corehub.store import ErrorClass, NewTask

log = logging.getLogger("corehub.engine")


class Consumer(CeleryConsumer):  # type: ignore[misc]
    """Celery's consumer, with the rejection paths recording instead of dumping the body."""

    def on_unknown_task(self, body: Any, message: Any, exc: Exception) -> None:
        headers = message.headers or {}
        task_id, name = headers.get("id"), str(headers.get("task"))
        log.error("rejected message %s: unknown task %r", task_id, name)
        self._record(task_id, name, message, ErrorClass.UNKNOWN_TASK, f"unknown task {name!r}")
        message.reject_log_error(log, self.connection_errors)

    def on_invalid_task(self, body: Any, message: Any, exc: Exception) -> None:
        self._reject_malformed(message, exc)

    def on_unknown_message(self, body: Any, message: Any) -> None:
        self._reject_malformed(message, None)

    def on_decode_error(self, message: Any, exc: Exception) -> None:
        self._reject_malformed(message, exc)  # rejected, not requeued: it never decodes

    def _reject_malformed(self, message: Any, exc: Exception | None) -> None:
        headers = message.headers if isinstance(message.headers, dict) else {}
        task_id, name = headers.get("id"), str(headers.get("task") or "(unknown)")
        reason = f"malformed message: {type(exc).__name__ if exc else 'not a task message'}"
        log.error(
            "rejected message %s (task %r, content type %s): %s",
            task_id,
            name,
            message.content_type,
            reason,
        )
        self._record(task_id, name, message, ErrorClass.MALFORMED_MESSAGE, reason)
        if not message.acknowledged:
            message.reject_log_error(log, self.connection_errors)

    def _record(
        self, task_id: Any, name: str, message: Any, error_class: ErrorClass, reason: str
    ) -> None:
        if not isinstance(task_id, str) or not task_id:
            return
        ctx = self.app.context
        queue = (message.delivery_info or {}).get("routing_key") or ""
        try:
            ctx.store.reject(
                NewTask(id=task_id, name=name[:200], queue=queue or "?"), error_class, reason
            )
        except Exception as exc:
            log.error("could not record rejected message %s: %s", task_id, exc)
