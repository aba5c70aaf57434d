"""What routes receive: the services the composition root put on `app.state`.

Coroutines although they only read attributes: FastAPI runs a plain `def` dependency in
its thread pool, a hop per dependency per request that cost more than the lookup.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from corehub.config import Settings
from corehub.registry import Registry
from corehub.service import TaskService
from corehub.service.events import EventService
from corehub.service.flow import FlowService
from corehub.service.hub import Services
from corehub.service.pipelines import PipelineService
from corehub.service.schedules import ScheduleService


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_service(request: Request) -> TaskService:
    return _services(request).tasks


async def get_registry(request: Request) -> Registry:
    return _services(request).tasks.registry


async def get_settings(request: Request) -> Settings:
    return _services(request).tasks.settings


async def get_pipelines(request: Request) -> PipelineService:
    return _services(request).pipelines


async def get_schedules(request: Request) -> ScheduleService:
    return _services(request).schedules


async def get_events(request: Request) -> EventService:
    return _services(request).events


async def get_flow(request: Request) -> FlowService:
    return _services(request).flow


Service = Annotated[TaskService, Depends(get_service)]
RegistryDep = Annotated[Registry, Depends(get_registry)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
Pipelines = Annotated[PipelineService, Depends(get_pipelines)]
Schedules = Annotated[ScheduleService, Depends(get_schedules)]
Events = Annotated[EventService, Depends(get_events)]
Flow = Annotated[FlowService, Depends(get_flow)]
