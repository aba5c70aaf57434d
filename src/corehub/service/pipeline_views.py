"""Pipeline records as the HTTP contract shows them."""

from __future__ import annotations

from corehub.schemas import (
    PipelineEventView,
    PipelineRunView,
    PipelineStepDefinition,
    PipelineStepView,
    PipelineTrigger,
    PipelineView,
)
from corehub.service.pipelines import PipelineInfo
from corehub.store.pipeline_records import PipelineEventRecord, RunRecord, StepRecord


def pipeline_view(info: PipelineInfo) -> PipelineView:
    data = info.pipeline.to_dict()
    return PipelineView(
        name=data["name"],
        description=data["description"],
        failure_policy=data["failure_policy"],
        triggers=[PipelineTrigger(**t) for t in data["triggers"]],
        steps=[PipelineStepDefinition(**s) for s in data["steps"]],
        source=info.source,
    )


def step_view(s: StepRecord) -> PipelineStepView:
    duration = None
    if s.started_at is not None and s.finished_at is not None:
        duration = round((s.finished_at - s.started_at).total_seconds(), 6)
    return PipelineStepView(
        name=s.name,
        task_name=s.task_name,
        parents=s.parents,
        label=s.label,
        status=s.status,
        task_id=s.task_id,
        task_status=s.task_status,
        attempt=s.attempt,
        releases=s.releases,
        released_at=s.released_at,
        started_at=s.started_at,
        finished_at=s.finished_at,
        duration_seconds=duration,
        error=s.error,
        result=s.result,
    )


def run_view(r: RunRecord) -> PipelineRunView:
    return PipelineRunView(
        run_id=r.id,
        pipeline=r.pipeline,
        status=r.status,
        state=r.state,
        failure_policy=r.failure_policy,
        input=r.input,
        event_id=r.event_id,
        error=r.error,
        reruns=r.reruns,
        created_at=r.created_at,
        started_at=r.started_at,
        completed_at=r.finished_at,
        updated_at=r.updated_at,
        steps=[step_view(s) for s in r.steps],
    )


def pipeline_event_view(e: PipelineEventRecord) -> PipelineEventView:
    return PipelineEventView(
        id=e.id,
        run_id=e.run_id,
        type=e.type,
        step=e.step,
        from_status=e.from_status,
        to_status=e.to_status,
        message=e.message,
        data=e.data,
        created_at=e.created_at,
    )
