"""Execution on Celery: the app, the task wrapper, the publisher, the embedded worker.

The only package that imports Celery and kombu.
"""

from corehub.engine.app import CorehubCelery, create_celery
from corehub.engine.context import EngineContext
from corehub.engine.publisher import CeleryPublisher

__all__ = ["CeleryPublisher", "CorehubCelery", "EngineContext", "create_celery"]
