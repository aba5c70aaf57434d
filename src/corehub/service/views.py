"""Records to response bodies: the one place the API shapes what it returns."""

from __future__ import annotations

from typing import Any

from corehub.registry import ModuleInfo, Registry, TaskSpec
from corehub.schemas import EventView, ModuleView, ParameterView, TaskError, TaskInfo, TaskView
from corehub.store import EventRecord, TaskRecord


def task_view(r: TaskRecord) -> TaskView:
    detail = None
    if r.error_message is not None or r.error_class is not None:
        detail = TaskError(
            error_class=r.error_class,
            type=r.error_type,
            message=r.error_message,
            traceback=r.error_traceback,
        )
    return TaskView(
        task_id=r.id,
        task_name=r.name,
        status=r.status.value,
        result=r.result,
        error=r.error_message,
        error_detail=detail,
        args=r.args,
        kwargs=r.kwargs,
        queue=r.queue,
        priority=r.priority,
        attempt=r.attempt,
        max_attempts=r.max_attempts,
        worker=r.worker,
        run_at=r.run_at,
        parent_id=r.parent_id,
        pipeline_run_id=r.pipeline_run_id,
        step=r.step,
        created_at=r.created_at,
        started_at=r.started_at,
        completed_at=r.finished_at,
        updated_at=r.updated_at,
    )


def event_view(e: EventRecord) -> EventView:
    return EventView(
        id=e.id,
        task_id=e.task_id,
        type=e.type,
        from_status=e.from_status,
        to_status=e.to_status,
        attempt=e.attempt,
        message=e.message,
        data=e.data,
        created_at=e.created_at,
    )


def task_info(spec: TaskSpec) -> TaskInfo:
    o = spec.options
    return TaskInfo(
        name=spec.name,
        module=spec.module,
        task=spec.task,
        description=spec.description,
        parameters=[
            ParameterView(
                name=p.name,
                kind=p.kind,
                annotation=p.annotation,
                required=p.required,
                default=_jsonable(p.default),
            )
            for p in spec.parameters
        ],
        queue=o.queue,
        priority=o.priority,
        max_attempts=o.max_attempts,
        soft_time_limit=o.soft_time_limit,
        time_limit=o.time_limit,
        backoff_base=o.backoff_base,
        backoff_cap=o.backoff_cap,
        retry_on=[c.__name__ for c in o.retry_on],
        dont_retry_on=[c.__name__ for c in o.dont_retry_on],
    )


def module_view(info: ModuleInfo, registry: Registry) -> ModuleView:
    return ModuleView(
        name=info.name,
        version=info.version,
        description=info.description,
        source=info.source,
        config=info.config,
        heartbeat=registry.heartbeat(info.name),
        tasks=[task_info(registry.get(f"{info.name}.{t}")) for t in sorted(info.tasks)],
    )


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool, list, dict)):
        return value
    return repr(value)
