"""The FastAPI application: routers, problem responses and the body limit. Thin by design."""

from __future__ import annotations

from fastapi import FastAPI

from corehub import __version__
from corehub.api import problems
from corehub.api.limits import BodySizeLimit
from corehub.api.routes import events as inbound
from corehub.api.routes import flow, modules, schedules, system, tasks
from corehub.api.routes import pipelines as pipeline_routes
from corehub.service import TaskService
from corehub.service.events import EventService
from corehub.service.pipelines import PipelineService


def create_app(
    service: TaskService,
    *,
    events: EventService | None = None,
    pipelines: PipelineService | None = None,
) -> FastAPI:
    """`events`: the inbound-event service behind `/events` (without it, those answer 503)."""
    app = FastAPI(
        title="corehub",
        version=__version__,
        description="Submit tasks by name, follow them to the end, read their history.",
    )
    app.state.service = service
    app.state.events = events
    app.state.pipelines = pipelines
    problems.install(app)
    app.add_middleware(BodySizeLimit, max_bytes=service.settings.api.max_body_bytes)
    app.include_router(system.router)
    app.include_router(modules.router)
    app.include_router(tasks.router)
    app.include_router(flow.router)
    app.include_router(schedules.router)
    app.include_router(inbound.router)
    app.include_router(pipeline_routes.router)
    return app
