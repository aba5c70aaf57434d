from __future__ import annotations

from typing import Annotated, Any

import orjson
import yaml
from fastapi import APIRouter, Query, Request, Response

from corehub.api.deps import Pipelines, SettingsDep
from corehub.errors import InvalidInput
from corehub.schemas import (
    PipelineEventView,
    PipelineRunPage,
    PipelineRunView,
    PipelineView,
    RunPipelineRequest,
)
from corehub.service.pipeline_views import pipeline_event_view, pipeline_view, run_view

router = APIRouter(tags=["pipelines"])
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")


@router.get("/pipelines")
def list_pipelines(pipelines: Pipelines) -> list[PipelineView]:
    """Pipelines defined in code by modules, and those defined through this API."""
    return [pipeline_view(info) for info in pipelines.definitions()]


@router.post("/pipelines", status_code=201, responses={200: {"model": PipelineView}})
async def define_pipeline(
    request: Request, response: Response, pipelines: Pipelines
) -> PipelineView:
    """Define (or replace) a pipeline from JSON, or YAML with a YAML content type."""
    spec = _parse(await request.body(), request.headers.get("content-type", ""))
    info, created = pipelines.define(spec)
    if not created:
        response.status_code = 200
    return pipeline_view(info)


@router.get("/pipelines/{name}")
def get_pipeline(name: str, pipelines: Pipelines) -> PipelineView:
    return pipeline_view(pipelines.definition(name))


@router.delete("/pipelines/{name}", status_code=204)
def delete_pipeline(name: str, pipelines: Pipelines) -> Response:
    pipelines.delete(name)
    return Response(status_code=204)


@router.post("/pipelines/{name}/run", status_code=202)
def run_pipeline(
    name: str, pipelines: Pipelines, body: RunPipelineRequest | None = None
) -> PipelineRunView:
    """Start a run: 202 once the run, its steps and its first tasks are committed."""
    return run_view(pipelines.start(name, body.input if body else {}))


@router.get("/pipeline-runs")
def list_runs(
    pipelines: Pipelines,
    settings: SettingsDep,
    pipeline: str | None = None,
    status: Annotated[list[str] | None, Query()] = None,
    cursor: str | None = None,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
) -> PipelineRunPage:
    """Newest first; `status` repeats or takes commas; `next_cursor` pages on."""
    statuses = [s.strip() for item in status or [] for s in item.split(",") if s.strip()]
    page = pipelines.list_runs(
        pipeline=pipeline,
        statuses=statuses,
        limit=limit or settings.api.page_size,
        cursor=cursor,
    )
    return PipelineRunPage(items=[run_view(r) for r in page.items], next_cursor=page.next_cursor)


@router.get("/pipeline-runs/{run_id}")
def get_run(run_id: str, pipelines: Pipelines) -> PipelineRunView:
    """The run with every step: state, attempts, timings and results."""
    return run_view(pipelines.get_run(run_id))


@router.post("/pipeline-runs/{run_id}/cancel")
def cancel_run(run_id: str, pipelines: Pipelines) -> PipelineRunView:
    """Cancel an unfinished run (409 if it already finished): its steps are cancelled."""
    return run_view(pipelines.cancel(run_id))


@router.post("/pipeline-runs/{run_id}/rerun", status_code=202)
def rerun(run_id: str, pipelines: Pipelines) -> PipelineRunView:
    """Run a failed or cancelled run again from the steps that did not succeed."""
    return run_view(pipelines.rerun(run_id))


@router.get("/pipeline-runs/{run_id}/events")
def run_events(
    run_id: str, pipelines: Pipelines, after: Annotated[int, Query(ge=0)] = 0
) -> list[PipelineEventView]:
    return [pipeline_event_view(e) for e in pipelines.events(run_id, after=after)]


def _parse(body: bytes, content_type: str) -> Any:
    try:
        if content_type.split(";")[0].strip() in YAML_TYPES:
            return yaml.safe_load(body)
        return orjson.loads(body)
    except (orjson.JSONDecodeError, yaml.YAMLError) as exc:
        raise InvalidInput(f"malformed pipeline definition: {exc}") from None
