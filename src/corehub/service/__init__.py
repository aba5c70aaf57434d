"""Use cases shared by the API, the CLI and the library: submit, read, publish."""

from corehub.service.outbox import Publisher, publish_committed
from corehub.service.tasks import Accepted, SubmitRequest, TaskService, parse_statuses

__all__ = [
    "Accepted",
    "Publisher",
    "SubmitRequest",
    "TaskService",
    "parse_statuses",
    "publish_committed",
]
