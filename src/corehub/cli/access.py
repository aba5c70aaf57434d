"""The CLI acts on a hub two ways with one interface: through its API (`--url`) or locally."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from corehub.client import Client
from corehub.runtime import Runtime
from corehub.schemas import EventView, ModuleView, TaskInfo, TaskPage, TaskView
from corehub.service import SubmitRequest, parse_statuses
from corehub.service.views import event_view, module_view, task_info, task_view
from corehub.store import TaskFilter


class HubAccess(Protocol):
    def run(self, task_name: str, kwargs: dict[str, Any]) -> TaskView: ...
    def get(self, task_id: str) -> TaskView: ...
    def events(self, task_id: str) -> list[EventView]: ...
    def list_tasks(
        self,
        *,
        status: list[str] | None,
        task_name: str | None,
        since: datetime | None,
        limit: int,
        cursor: str | None,
    ) -> TaskPage: ...
    def modules(self) -> list[ModuleView]: ...
    def replay(self, task_id: str, kwargs: dict[str, Any] | None) -> TaskView: ...
    def cancel(self, task_id: str, terminate: bool) -> TaskView: ...
    def replay_matching(
        self, *, task_name: str | None, limit: int, kwargs: dict[str, Any] | None
    ) -> list[TaskView]: ...
    def registered_tasks(self) -> list[TaskInfo]: ...


class RemoteAccess:
    def __init__(self, client: Client) -> None:
        self.client = client

    def run(self, task_name: str, kwargs: dict[str, Any]) -> TaskView:
        return self.client.run(task_name, kwargs)

    def get(self, task_id: str) -> TaskView:
        return self.client.get(task_id)

    def events(self, task_id: str) -> list[EventView]:
        return self.client.events(task_id)

    def list_tasks(
        self,
        *,
        status: list[str] | None,
        task_name: str | None,
        since: datetime | None,
        limit: int,
        cursor: str | None,
    ) -> TaskPage:
        return self.client.list_tasks(
            status=status, task_name=task_name, created_since=since, limit=limit, cursor=cursor
        )

    def modules(self) -> list[ModuleView]:
        return self.client.modules()

    def replay(self, task_id: str, kwargs: dict[str, Any] | None) -> TaskView:
        return self.client.replay(task_id, kwargs)

    def cancel(self, task_id: str, terminate: bool) -> TaskView:
        return self.client.cancel(task_id, terminate=terminate)

    def replay_matching(
        self, *, task_name: str | None, limit: int, kwargs: dict[str, Any] | None
    ) -> list[TaskView]:
        reply = self.client.replay_matching(task_name=task_name, limit=limit, kwargs=kwargs)
        return [self.client.get(i) for i in reply.task_ids]

    def registered_tasks(self) -> list[TaskInfo]:
        return self.client.registered_tasks()


class LocalAccess:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    def run(self, task_name: str, kwargs: dict[str, Any]) -> TaskView:
        return task_view(self.rt.service.submit(SubmitRequest(task_name, kwargs)))

    def get(self, task_id: str) -> TaskView:
        return task_view(self.rt.service.get(task_id))

    def events(self, task_id: str) -> list[EventView]:
        return [event_view(e) for e in self.rt.service.events(task_id)]

    def list_tasks(
        self,
        *,
        status: list[str] | None,
        task_name: str | None,
        since: datetime | None,
        limit: int,
        cursor: str | None,
    ) -> TaskPage:
        flt = TaskFilter(statuses=parse_statuses(status or []), name=task_name, created_since=since)
        page = self.rt.service.list_tasks(flt, limit=limit, cursor=cursor)
        return TaskPage(items=[task_view(r) for r in page.items], next_cursor=page.next_cursor)

    def modules(self) -> list[ModuleView]:
        return [module_view(m, self.rt.registry) for m in self.rt.registry.modules()]

    def replay(self, task_id: str, kwargs: dict[str, Any] | None) -> TaskView:
        return task_view(self.rt.service.replay(task_id, kwargs=kwargs))

    def cancel(self, task_id: str, terminate: bool) -> TaskView:
        return task_view(self.rt.service.cancel(task_id, terminate=terminate))

    def replay_matching(
        self, *, task_name: str | None, limit: int, kwargs: dict[str, Any] | None
    ) -> list[TaskView]:
        flt = TaskFilter(name=task_name)
        return [
            task_view(r) for r in self.rt.service.replay_matching(flt, limit=limit, kwargs=kwargs)
        ]

    def registered_tasks(self) -> list[TaskInfo]:
        return [task_info(s) for s in self.rt.registry.tasks()]
