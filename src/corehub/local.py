"""Library-level submit for code that shares the installation's settings.

`corehub.submit("echo_bot.echo", text="x")` commits the row and publishes after commit, like
the API. The runtime is built once per process from the same settings `corehub` reads.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from corehub.config import load_settings
from corehub.runtime import Runtime, build_runtime
from corehub.service import SubmitRequest

_lock = threading.Lock()
_runtime: Runtime | None = None


def local_runtime() -> Runtime:
    """The process's runtime; beside an embedded hub it leaves publishing to the hub's relay."""
    global _runtime
    with _lock:
        if _runtime is None:
            settings = load_settings()
            _runtime = build_runtime(settings, publish=not settings.embedded_broker)
        return _runtime


def reset() -> None:
    """Forget the cached runtime (after the settings changed)."""
    global _runtime
    with _lock:
        if _runtime is not None:
            _runtime.close()
        _runtime = None


def submit(
    task_name: str,
    /,
    *,
    run_at: datetime | None = None,
    countdown: float | None = None,
    **kwargs: Any,
) -> str:
    """Accept one task; returns its id once its row is committed.

    `run_at` (timezone-aware) or `countdown` (seconds) hold it in SQL until it is due; they
    are not passed to the task.
    """
    req = SubmitRequest(task_name, kwargs, run_at=run_at, countdown=countdown)
    return local_runtime().service.submit(req).id


def submit_many(tasks: Iterable[tuple[str, Mapping[str, Any]]]) -> list[str]:
    """Accept many tasks in one transaction (all or none); returns their ids in order."""
    reqs = [SubmitRequest(name, dict(kwargs)) for name, kwargs in tasks]
    return [r.id for r in local_runtime().service.submit_many(reqs)]
