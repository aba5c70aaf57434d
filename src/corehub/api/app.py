"""The FastAPI application: routers, problem responses, the body limit and the single
submit's own path (`api.submit_path`). Thin by design."""

from __future__ import annotations

from fastapi import FastAPI

from corehub import __version__
from corehub.api import problems
from corehub.api.limits import BodySizeLimit
from corehub.api.routes import events, flow, modules, pipelines, schedules, system, tasks
from corehub.api.submit_path import SubmitPath
from corehub.service.hub import Services


def create_app(services: Services) -> FastAPI:
    app = FastAPI(
        title="corehub",
        version=__version__,
        description="Submit tasks by name, follow them to the end, read their history.",
    )
    app.state.services = services
    problems.install(app)
    app.add_middleware(SubmitPath, service=services.tasks)  # inside the size limit
    app.add_middleware(BodySizeLimit, max_bytes=services.tasks.settings.api.max_body_bytes)
    for module in (system, modules, tasks, pipelines, schedules, events, flow):
        app.include_router(module.router)
    return app
