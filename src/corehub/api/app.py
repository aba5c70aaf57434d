"""The FastAPI application: routers, problem responses and the body limit. Thin by design."""

from __future__ import annotations

from fastapi import FastAPI

from corehub import __version__
from corehub.api import problems
from corehub.api.limits import BodySizeLimit
from corehub.api.routes import modules, system, tasks
from corehub.service import TaskService


def create_app(service: TaskService) -> FastAPI:
    app = FastAPI(
        title="corehub",
        version=__version__,
        description="Submit tasks by name, follow them to the end, read their history.",
    )
    app.state.service = service
    problems.install(app)
    app.add_middleware(BodySizeLimit, max_bytes=service.settings.api.max_body_bytes)
    app.include_router(system.router)
    app.include_router(modules.router)
    app.include_router(tasks.router)
    return app
