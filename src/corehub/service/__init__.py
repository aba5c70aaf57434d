"""Use cases shared by the API, the CLI and the library: submit, read, publish."""

from corehub.service.outbox import Publisher, publish_committed
from corehub.service.tasks import SubmitRequest, TaskService

__all__ = ["Publisher", "SubmitRequest", "TaskService", "publish_committed"]
