from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from corehub.api.deps import Service, SettingsDep
from corehub.errors import InvalidInput
from corehub.schemas import (
    BulkReplayRequest,
    BulkRunRequest,
    BulkRunResponse,
    CancelRequest,
    EventView,
    ReplayRequest,
    ReplayResponse,
    RunTaskRequest,
    TaskPage,
    TaskView,
)
from corehub.service import SubmitRequest, TaskService, parse_statuses
from corehub.service.views import event_view, task_view
from corehub.store import TaskFilter

router = APIRouter(tags=["tasks"])


def _submit_request(body: RunTaskRequest) -> SubmitRequest:
    return SubmitRequest(
        task_name=body.task_name,
        kwargs=body.kwargs,
        args=body.args,
        queue=body.queue,
        priority=body.priority,
        max_attempts=body.max_attempts,
        backoff_base=body.backoff_base,
        backoff_cap=body.backoff_cap,
        idempotency_key=body.idempotency_key,
        run_at=body.run_at,
        countdown=body.countdown,
    )


@router.post("/tasks/run", status_code=202, responses={200: {"model": TaskView}})
async def run_task(
    body: RunTaskRequest,
    service: Service,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> TaskView:
    """Accept a task: 202 once its row is committed; it is published right after.

    With an `Idempotency-Key` header (or `idempotency_key` field), the same key and body
    again answer 200 with the original task; the same key with another body is a 409.
    """
    if idempotency_key and body.idempotency_key and idempotency_key != body.idempotency_key:
        raise InvalidInput("the Idempotency-Key header and the idempotency_key field differ")
    if idempotency_key:
        body = body.model_copy(update={"idempotency_key": idempotency_key})
    created, view = await accept_run(service, body)
    if not created:
        response.status_code = 200
    return view


async def accept_run(service: TaskService, body: RunTaskRequest) -> tuple[bool, TaskView]:
    """What `POST /tasks/run` does once its body is read (here and in `api.submit_path`):
    whether the task is new (202) or an idempotent repeat (200), and its view."""
    accepted = await service.accept_async(_submit_request(body))
    return accepted.created, task_view(accepted.record)


@router.post("/tasks/bulk", status_code=202)
def run_tasks(body: BulkRunRequest, service: Service) -> BulkRunResponse:
    """Accept many tasks in one transaction: all are stored, or none (on any invalid one)."""
    records = service.submit_many([_submit_request(t) for t in body.tasks])
    return BulkRunResponse(task_ids=[r.id for r in records])


@router.post("/tasks/{task_id}/cancel")
def cancel_task(task_id: str, service: Service, body: CancelRequest | None = None) -> TaskView:
    """Cancel an unfinished task (409 if it already finished). A pending one never starts; a
    running one is revoked and its outcome dropped, with `terminate` its process killed."""
    return task_view(service.cancel(task_id, terminate=bool(body and body.terminate)))


@router.post("/tasks/replay", status_code=202)
def replay_tasks(body: BulkReplayRequest, service: Service) -> ReplayResponse:
    """Replay every task matching the filter (dead ones by default), up to `limit`."""
    flt = TaskFilter(
        statuses=parse_statuses(body.status),
        name=body.task_name,
        created_since=_utc(body.created_since),
        created_until=_utc(body.created_until),
    )
    records = service.replay_matching(flt, limit=body.limit, kwargs=body.kwargs)
    return ReplayResponse(
        task_ids=[r.id for r in records], replayed=[r.parent_id or "" for r in records]
    )


@router.post("/tasks/{task_id}/replay", status_code=202)
def replay_task(task_id: str, service: Service, body: ReplayRequest | None = None) -> TaskView:
    """Run a dead, failed or cancelled task again as a new task linked to it (409 otherwise);
    both carry the event."""
    return task_view(service.replay(task_id, kwargs=body.kwargs if body else None))


@router.get("/tasks")
def list_tasks(
    service: Service,
    settings: SettingsDep,
    status: Annotated[
        list[str] | None, Query(description="status, repeat or comma-separate")
    ] = None,
    task_name: str | None = None,
    created_since: datetime | None = None,
    created_until: datetime | None = None,
    cursor: str | None = None,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
) -> TaskPage:
    """Submitted tasks, newest first, with cursor pagination."""
    flt = TaskFilter(
        statuses=parse_statuses(status or []),
        name=task_name,
        created_since=_utc(created_since),
        created_until=_utc(created_until),
    )
    page = service.list_tasks(flt, limit=limit or settings.api.page_size, cursor=cursor)
    return TaskPage(items=[task_view(r) for r in page.items], next_cursor=page.next_cursor)


@router.get("/tasks/{task_id}")
def get_task(task_id: str, service: Service) -> TaskView:
    return task_view(service.get(task_id))


@router.get("/status/{task_id}")
def get_status(task_id: str, service: Service) -> TaskView:
    """Alias of `GET /tasks/{id}`."""
    return task_view(service.get(task_id))


@router.get("/tasks/{task_id}/events")
def task_events(task_id: str, service: Service, after: int = 0) -> list[EventView]:
    """The task's event log, oldest first; `after` resumes from an event id."""
    return [event_view(e) for e in service.events(task_id, after=after)]


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
