"""corehub: a durable task-orchestration hub. SQL is the record; Celery runs the work.

`corehub.Client` talks to a hub over HTTP; `corehub.submit` submits through the local
installation's settings. Both are imported on first use to keep `import corehub` light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from corehub.client import AsyncClient, Client
    from corehub.local import submit, submit_many

_LAZY = {
    "Client": "corehub.client",
    "AsyncClient": "corehub.client",
    "submit": "corehub.local",
    "submit_many": "corehub.local",
}
__all__ = ["AsyncClient", "Client", "__version__", "submit", "submit_many"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'corehub' has no attribute {name!r}")
