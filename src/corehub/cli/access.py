"""The CLI acts on a hub two ways with one interface: through its API (`--url`) or locally."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from corehub.client import Client
from corehub.runtime import Runtime
from corehub.schemas import (
    BreakerView,
    CreateScheduleRequest,
    EventView,
    FlowLimits,
    InboundEventView,
    ModuleView,
    PipelineRunPage,
    PipelineRunView,
    PipelineView,
    ScheduleView,
    TaskInfo,
    TaskPage,
    TaskView,
)
from corehub.service import SubmitRequest, parse_statuses
from corehub.service.events import inbound_view
from corehub.service.flow import FlowService
from corehub.service.pipeline_views import pipeline_view, run_view
from corehub.service.schedules import schedule_request, schedule_view
from corehub.service.views import event_view, module_view, task_info, task_view
from corehub.store import TaskFilter


class HubAccess(Protocol):
    def run(
        self,
        task_name: str,
        kwargs: dict[str, Any],
        *,
        run_at: datetime | None = None,
        countdown: float | None = None,
    ) -> TaskView: ...
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
    def breakers(self) -> list[BreakerView]: ...
    def flow_limits(self) -> FlowLimits: ...
    def schedules(self) -> list[ScheduleView]: ...
    def schedule(self, name: str) -> ScheduleView: ...
    def add_schedule(self, body: CreateScheduleRequest) -> ScheduleView: ...
    def remove_schedule(self, name: str) -> None: ...
    def pause_schedule(self, name: str, paused: bool) -> ScheduleView: ...
    def run_schedule(self, name: str) -> TaskView: ...
    def inbound_events(self, *, source: str | None, limit: int) -> list[InboundEventView]: ...
    def inbound_event(self, event_id: str) -> InboundEventView: ...
    def pipelines(self) -> list[PipelineView]: ...
    def define_pipeline(self, spec: dict[str, Any]) -> PipelineView: ...
    def run_pipeline(self, name: str, input: dict[str, Any]) -> PipelineRunView: ...
    def pipeline_run(self, run_id: str) -> PipelineRunView: ...
    def pipeline_runs(
        self, *, pipeline: str | None, status: list[str] | None, limit: int
    ) -> PipelineRunPage: ...
    def cancel_pipeline_run(self, run_id: str) -> PipelineRunView: ...
    def rerun_pipeline_run(self, run_id: str) -> PipelineRunView: ...


class RemoteAccess:
    def __init__(self, client: Client) -> None:
        self.client = client

    def pipelines(self) -> list[PipelineView]:
        return self.client.pipelines()

    def define_pipeline(self, spec: dict[str, Any]) -> PipelineView:
        return self.client.define_pipeline(spec)

    def run_pipeline(self, name: str, input: dict[str, Any]) -> PipelineRunView:
        return self.client.run_pipeline(name, input)

    def pipeline_run(self, run_id: str) -> PipelineRunView:
        return self.client.pipeline_run(run_id)

    def pipeline_runs(
        self, *, pipeline: str | None, status: list[str] | None, limit: int
    ) -> PipelineRunPage:
        return self.client.pipeline_runs(pipeline=pipeline, status=status, limit=limit)

    def cancel_pipeline_run(self, run_id: str) -> PipelineRunView:
        return self.client.cancel_pipeline_run(run_id)

    def rerun_pipeline_run(self, run_id: str) -> PipelineRunView:
        return self.client.rerun_pipeline_run(run_id)

    def run(
        self,
        task_name: str,
        kwargs: dict[str, Any],
        *,
        run_at: datetime | None = None,
        countdown: float | None = None,
    ) -> TaskView:
        return self.client.run(task_name, kwargs, run_at=run_at, countdown=countdown)

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

    def breakers(self) -> list[BreakerView]:
        return self.client.breakers()

    def flow_limits(self) -> FlowLimits:
        return self.client.flow_limits()

    def schedules(self) -> list[ScheduleView]:
        return self.client.schedules()

    def schedule(self, name: str) -> ScheduleView:
        return self.client.schedule(name)

    def add_schedule(self, body: CreateScheduleRequest) -> ScheduleView:
        fields = body.model_dump(exclude={"name", "task_name", "kwargs"})
        return self.client.create_schedule(body.name, body.task_name, body.kwargs, **fields)

    def remove_schedule(self, name: str) -> None:
        self.client.delete_schedule(name)

    def pause_schedule(self, name: str, paused: bool) -> ScheduleView:
        if paused:
            return self.client.pause_schedule(name)
        return self.client.resume_schedule(name)

    def run_schedule(self, name: str) -> TaskView:
        return self.client.run_schedule(name)

    def inbound_events(self, *, source: str | None, limit: int) -> list[InboundEventView]:
        return self.client.list_events(source=source, limit=limit)

    def inbound_event(self, event_id: str) -> InboundEventView:
        return self.client.get_event(event_id)


class LocalAccess:
    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    def pipelines(self) -> list[PipelineView]:
        return [pipeline_view(i) for i in self.rt.pipelines.definitions()]

    def define_pipeline(self, spec: dict[str, Any]) -> PipelineView:
        return pipeline_view(self.rt.pipelines.define(spec)[0])

    def run_pipeline(self, name: str, input: dict[str, Any]) -> PipelineRunView:
        return run_view(self.rt.pipelines.start(name, input))

    def pipeline_run(self, run_id: str) -> PipelineRunView:
        return run_view(self.rt.pipelines.get_run(run_id))

    def pipeline_runs(
        self, *, pipeline: str | None, status: list[str] | None, limit: int
    ) -> PipelineRunPage:
        statuses = [s for item in status or [] for s in item.split(",") if s]
        page = self.rt.pipelines.list_runs(pipeline=pipeline, statuses=statuses, limit=limit)
        return PipelineRunPage(
            items=[run_view(r) for r in page.items], next_cursor=page.next_cursor
        )

    def cancel_pipeline_run(self, run_id: str) -> PipelineRunView:
        return run_view(self.rt.pipelines.cancel(run_id))

    def rerun_pipeline_run(self, run_id: str) -> PipelineRunView:
        return run_view(self.rt.pipelines.rerun(run_id))

    def run(
        self,
        task_name: str,
        kwargs: dict[str, Any],
        *,
        run_at: datetime | None = None,
        countdown: float | None = None,
    ) -> TaskView:
        req = SubmitRequest(task_name, kwargs, run_at=run_at, countdown=countdown)
        return task_view(self.rt.service.submit(req))

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

    def breakers(self) -> list[BreakerView]:
        return self._flow().breakers()

    def flow_limits(self) -> FlowLimits:
        return self._flow().limits()

    def _flow(self) -> FlowService:
        return self.rt.flow

    def schedules(self) -> list[ScheduleView]:
        return [schedule_view(r) for r in self.rt.schedules.list_schedules()]

    def schedule(self, name: str) -> ScheduleView:
        return schedule_view(self.rt.schedules.get(name))

    def add_schedule(self, body: CreateScheduleRequest) -> ScheduleView:
        return schedule_view(self.rt.schedules.create(schedule_request(body.name, body)))

    def remove_schedule(self, name: str) -> None:
        self.rt.schedules.delete(name)

    def pause_schedule(self, name: str, paused: bool) -> ScheduleView:
        schedules = self.rt.schedules
        return schedule_view(schedules.pause(name) if paused else schedules.resume(name))

    def run_schedule(self, name: str) -> TaskView:
        return task_view(self.rt.schedules.run_now(name))

    def inbound_events(self, *, source: str | None, limit: int) -> list[InboundEventView]:
        return [inbound_view(e) for e in self.rt.events.list(source, limit=limit)]

    def inbound_event(self, event_id: str) -> InboundEventView:
        return inbound_view(self.rt.events.get(event_id))
