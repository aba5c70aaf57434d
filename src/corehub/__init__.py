"""corehub: a durable task-orchestration hub. SQL is the record; Celery runs the work."""

from __future__ import annotations

__version__ = "0.1.0"
