"""A typed client for the HTTP API, sync and async, on httpx.

Problem responses become the same `CorehubError` subclasses the hub raises internally.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import httpx
from pydantic import TypeAdapter

from corehub import errors
from corehub.schemas import (
    RUN_FINAL_STATUSES,
    TERMINAL_STATUSES,
    BreakerView,
    BulkRunResponse,
    CreateScheduleRequest,
    EventView,
    FlowLimits,
    InboundEventView,
    ModuleView,
    Ping,
    PipelineEventView,
    PipelineRunPage,
    PipelineRunView,
    PipelineView,
    ReplayResponse,
    RunTaskRequest,
    ScheduleDefinition,
    ScheduleView,
    TaskInfo,
    TaskPage,
    TaskView,
)

DEFAULT_URL = "http://127.0.0.1:8000"
_BY_STATUS: dict[int, type[errors.CorehubError]] = {
    401: errors.Unauthorized,
    404: errors.NotFound,
    409: errors.Conflict,
    413: errors.PayloadTooLarge,
    422: errors.InvalidInput,
    400: errors.InvalidInput,
    503: errors.Unavailable,
}


class HubUnreachable(errors.Unavailable):
    """The hub did not answer at all (connection refused, timeout)."""


def _run_body(task_name: str, kwargs: dict[str, Any] | None, **options: Any) -> dict[str, Any]:
    body = RunTaskRequest(task_name=task_name, kwargs=kwargs or {}, **options)
    return body.model_dump(mode="json", exclude_none=True)


def _list_params(
    status: Sequence[str] | None,
    task_name: str | None,
    created_since: datetime | None,
    created_until: datetime | None,
    cursor: str | None,
    limit: int | None,
) -> dict[str, Any]:
    params = {
        "status": ",".join(status) if status else None,
        "task_name": task_name,
        "created_since": created_since.isoformat() if created_since else None,
        "created_until": created_until.isoformat() if created_until else None,
        "cursor": cursor,
        "limit": limit,
    }
    return {k: v for k, v in params.items() if v is not None}


def _parse(response: httpx.Response, kind: Any) -> Any:
    if response.status_code >= 400:
        raise _error(response)
    if kind is None:  # 204 No Content
        return None
    return TypeAdapter(kind).validate_python(response.json())


def _schedule_body(
    task_name: str, kwargs: dict[str, Any] | None, name: str | None = None, **options: Any
) -> dict[str, Any]:
    fields = {"task_name": task_name, "kwargs": kwargs or {}, **options}
    body = (
        CreateScheduleRequest(name=name, **fields)
        if name is not None
        else ScheduleDefinition(**fields)
    )
    return body.model_dump(mode="json", exclude_none=True)


def _error(response: httpx.Response) -> errors.CorehubError:
    try:
        body = response.json()
        detail = str(body.get("detail") or body)
    except ValueError:
        detail = response.text[:200] or response.reason_phrase
    cls = _BY_STATUS.get(response.status_code, errors.CorehubError)
    exc = cls(detail)
    exc.status = response.status_code
    return exc


def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + timeout


def _final(view: TaskView, deadline: float | None, timeout: float | None) -> bool:
    """The waiting loops' one test: final, still going, or out of time (`TimeoutError`)."""
    if view.status in TERMINAL_STATUSES:
        return True
    if deadline is not None and time.monotonic() > deadline:
        raise TimeoutError(f"task {view.task_id} still {view.status} after {timeout}s")
    return False


def _run_final(view: PipelineRunView, deadline: float | None, timeout: float | None) -> bool:
    if view.status in RUN_FINAL_STATUSES:
        return True
    if deadline is not None and time.monotonic() > deadline:
        raise TimeoutError(f"pipeline run {view.run_id} still {view.status} after {timeout}s")
    return False


def _run_list_params(
    pipeline: str | None, status: Sequence[str] | None, cursor: str | None, limit: int | None
) -> dict[str, Any]:
    params = {
        "pipeline": pipeline,
        "status": ",".join(status) if status else None,
        "cursor": cursor,
        "limit": limit,
    }
    return {k: v for k, v in params.items() if v is not None}


class Client:
    """Synchronous client: `with Client(url) as hub: hub.run("echo_bot.echo", {"text": "hi"})`."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        timeout: float = 10.0,
        headers: dict[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=url.rstrip("/"), timeout=timeout, headers=headers, transport=transport
        )

    def _call(self, method: str, path: str, kind: Any, **kw: Any) -> Any:
        try:
            response = self._http.request(method, path, **kw)
        except httpx.TransportError as exc:
            raise HubUnreachable(f"cannot reach the hub at {self._http.base_url}: {exc}") from None
        return _parse(response, kind)

    def ping(self) -> Ping:
        return self._call("GET", "/ping", Ping)  # type: ignore[no-any-return]

    def modules(self) -> list[ModuleView]:
        return self._call("GET", "/modules", list[ModuleView])  # type: ignore[no-any-return]

    def registered_tasks(self) -> list[TaskInfo]:
        return self._call("GET", "/tasks/registered", list[TaskInfo])  # type: ignore[no-any-return]

    def run(self, task_name: str, kwargs: dict[str, Any] | None = None, **options: Any) -> TaskView:
        body = _run_body(task_name, kwargs, **options)
        return self._call("POST", "/tasks/run", TaskView, json=body)  # type: ignore[no-any-return]

    def run_many(self, requests: Sequence[RunTaskRequest]) -> list[str]:
        body = {"tasks": [r.model_dump(mode="json", exclude_none=True) for r in requests]}
        reply: BulkRunResponse = self._call("POST", "/tasks/bulk", BulkRunResponse, json=body)
        return reply.task_ids

    def get(self, task_id: str) -> TaskView:
        return self._call("GET", f"/tasks/{task_id}", TaskView)  # type: ignore[no-any-return]

    def list_tasks(
        self,
        *,
        status: Sequence[str] | None = None,
        task_name: str | None = None,
        created_since: datetime | None = None,
        created_until: datetime | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> TaskPage:
        params = _list_params(status, task_name, created_since, created_until, cursor, limit)
        return self._call("GET", "/tasks", TaskPage, params=params)  # type: ignore[no-any-return]

    def cancel(self, task_id: str, *, terminate: bool = False) -> TaskView:
        """Cancel an unfinished task (`Conflict` if it already finished)."""
        return self._call(  # type: ignore[no-any-return]
            "POST", f"/tasks/{task_id}/cancel", TaskView, json={"terminate": terminate}
        )

    def replay(self, task_id: str, kwargs: dict[str, Any] | None = None) -> TaskView:
        """Run a dead, failed or cancelled task again as a new, linked task."""
        body = {"kwargs": kwargs} if kwargs is not None else None
        return self._call(  # type: ignore[no-any-return]
            "POST", f"/tasks/{task_id}/replay", TaskView, json=body
        )

    def replay_matching(
        self,
        *,
        status: Sequence[str] = ("dead",),
        task_name: str | None = None,
        limit: int = 100,
        kwargs: dict[str, Any] | None = None,
    ) -> ReplayResponse:
        body = {"status": list(status), "task_name": task_name, "limit": limit, "kwargs": kwargs}
        return self._call(  # type: ignore[no-any-return]
            "POST", "/tasks/replay", ReplayResponse, json=body
        )

    def events(self, task_id: str, *, after: int = 0) -> list[EventView]:
        return self._call(  # type: ignore[no-any-return]
            "GET", f"/tasks/{task_id}/events", list[EventView], params={"after": after}
        )

    def schedules(self) -> list[ScheduleView]:
        return self._call("GET", "/schedules", list[ScheduleView])  # type: ignore[no-any-return]

    def schedule(self, name: str) -> ScheduleView:
        return self._call("GET", f"/schedules/{name}", ScheduleView)  # type: ignore[no-any-return]

    def create_schedule(
        self, name: str, task_name: str, kwargs: dict[str, Any] | None = None, **options: Any
    ) -> ScheduleView:
        """Define a schedule: `every=` seconds or `cron=` (with `timezone=`), and optionally
        `misfire=`, `args=`, `queue=`, `priority=`, `paused=`."""
        body = _schedule_body(task_name, kwargs, name, **options)
        return self._call("POST", "/schedules", ScheduleView, json=body)  # type: ignore[no-any-return]

    def update_schedule(
        self, name: str, task_name: str, kwargs: dict[str, Any] | None = None, **options: Any
    ) -> ScheduleView:
        body = _schedule_body(task_name, kwargs, **options)
        return self._call(  # type: ignore[no-any-return]
            "PUT", f"/schedules/{name}", ScheduleView, json=body
        )

    def delete_schedule(self, name: str) -> None:
        self._call("DELETE", f"/schedules/{name}", None)

    def pause_schedule(self, name: str) -> ScheduleView:
        return self._call(  # type: ignore[no-any-return]
            "POST", f"/schedules/{name}/pause", ScheduleView
        )

    def resume_schedule(self, name: str) -> ScheduleView:
        return self._call(  # type: ignore[no-any-return]
            "POST", f"/schedules/{name}/resume", ScheduleView
        )

    def run_schedule(self, name: str) -> TaskView:
        """Submit the schedule's task once, now."""
        return self._call("POST", f"/schedules/{name}/run", TaskView)  # type: ignore[no-any-return]

    def list_events(
        self, *, source: str | None = None, limit: int | None = None
    ) -> list[InboundEventView]:
        """Inbound events the hub stored, newest first."""
        params = {k: v for k, v in {"source": source, "limit": limit}.items() if v is not None}
        return self._call(  # type: ignore[no-any-return]
            "GET", "/events", list[InboundEventView], params=params
        )

    def get_event(self, event_id: str) -> InboundEventView:
        return self._call(  # type: ignore[no-any-return]
            "GET", f"/events/{event_id}", InboundEventView
        )

    def breakers(self) -> list[BreakerView]:
        return self._call("GET", "/flow/breakers", list[BreakerView])  # type: ignore[no-any-return]

    def reset_breaker(self, name: str) -> BreakerView:
        return self._call(  # type: ignore[no-any-return]
            "POST", f"/flow/breakers/{name}/reset", BreakerView
        )

    def flow_limits(self) -> FlowLimits:
        return self._call("GET", "/flow/limits", FlowLimits)  # type: ignore[no-any-return]

    def pipelines(self) -> list[PipelineView]:
        return self._call("GET", "/pipelines", list[PipelineView])  # type: ignore[no-any-return]

    def define_pipeline(self, spec: dict[str, Any]) -> PipelineView:
        return self._call("POST", "/pipelines", PipelineView, json=spec)  # type: ignore[no-any-return]

    def run_pipeline(self, name: str, input: dict[str, Any] | None = None) -> PipelineRunView:
        body = {"input": input or {}}
        return self._call(  # type: ignore[no-any-return]
            "POST", f"/pipelines/{name}/run", PipelineRunView, json=body
        )

    def pipeline_run(self, run_id: str) -> PipelineRunView:
        return self._call(  # type: ignore[no-any-return]
            "GET", f"/pipeline-runs/{run_id}", PipelineRunView
        )

    def pipeline_runs(
        self,
        *,
        pipeline: str | None = None,
        status: Sequence[str] | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> PipelineRunPage:
        params = _run_list_params(pipeline, status, cursor, limit)
        return self._call(  # type: ignore[no-any-return]
            "GET", "/pipeline-runs", PipelineRunPage, params=params
        )

    def cancel_pipeline_run(self, run_id: str) -> PipelineRunView:
        return self._call(  # type: ignore[no-any-return]
            "POST", f"/pipeline-runs/{run_id}/cancel", PipelineRunView
        )

    def rerun_pipeline_run(self, run_id: str) -> PipelineRunView:
        return self._call(  # type: ignore[no-any-return]
            "POST", f"/pipeline-runs/{run_id}/rerun", PipelineRunView
        )

    def pipeline_run_events(self, run_id: str, *, after: int = 0) -> list[PipelineEventView]:
        return self._call(  # type: ignore[no-any-return]
            "GET",
            f"/pipeline-runs/{run_id}/events",
            list[PipelineEventView],
            params={"after": after},
        )

    def wait_pipeline_run(
        self, run_id: str, *, timeout: float | None = None, poll: float = 0.1
    ) -> PipelineRunView:
        deadline = _deadline(timeout)
        while True:
            view = self.pipeline_run(run_id)
            if _run_final(view, deadline, timeout):
                return view
            time.sleep(poll)

    def wait(self, task_id: str, *, timeout: float | None = None, poll: float = 0.1) -> TaskView:
        """Poll until the task is final; `TimeoutError` after `timeout` seconds."""
        deadline = _deadline(timeout)
        while not _final(view := self.get(task_id), deadline, timeout):
            time.sleep(poll)
        return view

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient:
    """The same calls for asyncio code."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        timeout: float = 10.0,
        headers: dict[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=url.rstrip("/"), timeout=timeout, headers=headers, transport=transport
        )

    async def _call(self, method: str, path: str, kind: Any, **kw: Any) -> Any:
        try:
            response = await self._http.request(method, path, **kw)
        except httpx.TransportError as exc:
            raise HubUnreachable(f"cannot reach the hub at {self._http.base_url}: {exc}") from None
        return _parse(response, kind)

    async def ping(self) -> Ping:
        return await self._call("GET", "/ping", Ping)  # type: ignore[no-any-return]

    async def modules(self) -> list[ModuleView]:
        return await self._call("GET", "/modules", list[ModuleView])  # type: ignore[no-any-return]

    async def run(
        self, task_name: str, kwargs: dict[str, Any] | None = None, **options: Any
    ) -> TaskView:
        body = _run_body(task_name, kwargs, **options)
        return await self._call(  # type: ignore[no-any-return]
            "POST", "/tasks/run", TaskView, json=body
        )

    async def get(self, task_id: str) -> TaskView:
        return await self._call("GET", f"/tasks/{task_id}", TaskView)  # type: ignore[no-any-return]

    async def list_tasks(
        self,
        *,
        status: Sequence[str] | None = None,
        task_name: str | None = None,
        created_since: datetime | None = None,
        created_until: datetime | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> TaskPage:
        params = _list_params(status, task_name, created_since, created_until, cursor, limit)
        return await self._call(  # type: ignore[no-any-return]
            "GET", "/tasks", TaskPage, params=params
        )

    async def replay(self, task_id: str, kwargs: dict[str, Any] | None = None) -> TaskView:
        body = {"kwargs": kwargs} if kwargs is not None else None
        return await self._call(  # type: ignore[no-any-return]
            "POST", f"/tasks/{task_id}/replay", TaskView, json=body
        )

    async def events(self, task_id: str, *, after: int = 0) -> list[EventView]:
        return await self._call(  # type: ignore[no-any-return]
            "GET", f"/tasks/{task_id}/events", list[EventView], params={"after": after}
        )

    async def schedules(self) -> list[ScheduleView]:
        return await self._call(  # type: ignore[no-any-return]
            "GET", "/schedules", list[ScheduleView]
        )

    async def schedule(self, name: str) -> ScheduleView:
        return await self._call(  # type: ignore[no-any-return]
            "GET", f"/schedules/{name}", ScheduleView
        )

    async def create_schedule(
        self, name: str, task_name: str, kwargs: dict[str, Any] | None = None, **options: Any
    ) -> ScheduleView:
        body = _schedule_body(task_name, kwargs, name, **options)
        return await self._call(  # type: ignore[no-any-return]
            "POST", "/schedules", ScheduleView, json=body
        )

    async def update_schedule(
        self, name: str, task_name: str, kwargs: dict[str, Any] | None = None, **options: Any
    ) -> ScheduleView:
        body = _schedule_body(task_name, kwargs, **options)
        return await self._call(  # type: ignore[no-any-return]
            "PUT", f"/schedules/{name}", ScheduleView, json=body
        )

    async def delete_schedule(self, name: str) -> None:
        await self._call("DELETE", f"/schedules/{name}", None)

    async def pause_schedule(self, name: str) -> ScheduleView:
        return await self._call(  # type: ignore[no-any-return]
            "POST", f"/schedules/{name}/pause", ScheduleView
        )

    async def resume_schedule(self, name: str) -> ScheduleView:
        return await self._call(  # type: ignore[no-any-return]
            "POST", f"/schedules/{name}/resume", ScheduleView
        )

    async def run_schedule(self, name: str) -> TaskView:
        return await self._call(  # type: ignore[no-any-return]
            "POST", f"/schedules/{name}/run", TaskView
        )

    async def list_events(
        self, *, source: str | None = None, limit: int | None = None
    ) -> list[InboundEventView]:
        params = {k: v for k, v in {"source": source, "limit": limit}.items() if v is not None}
        return await self._call(  # type: ignore[no-any-return]
            "GET", "/events", list[InboundEventView], params=params
        )

    async def get_event(self, event_id: str) -> InboundEventView:
        return await self._call(  # type: ignore[no-any-return]
            "GET", f"/events/{event_id}", InboundEventView
        )

    async def run_pipeline(self, name: str, input: dict[str, Any] | None = None) -> PipelineRunView:
        body = {"input": input or {}}
        return await self._call(  # type: ignore[no-any-return]
            "POST", f"/pipelines/{name}/run", PipelineRunView, json=body
        )

    async def pipeline_run(self, run_id: str) -> PipelineRunView:
        return await self._call(  # type: ignore[no-any-return]
            "GET", f"/pipeline-runs/{run_id}", PipelineRunView
        )

    async def wait_pipeline_run(
        self, run_id: str, *, timeout: float | None = None, poll: float = 0.1
    ) -> PipelineRunView:
        deadline = _deadline(timeout)
        while True:
            view = await self.pipeline_run(run_id)
            if _run_final(view, deadline, timeout):
                return view
            await asyncio.sleep(poll)

    async def wait(
        self, task_id: str, *, timeout: float | None = None, poll: float = 0.1
    ) -> TaskView:
        deadline = _deadline(timeout)
        while not _final(view := await self.get(task_id), deadline, timeout):
            await asyncio.sleep(poll)
        return view

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


__all__ = ["AsyncClient", "Client", "HubUnreachable"]
