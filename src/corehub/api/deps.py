"""What routes receive: the services the composition root put on `app.state`."""

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


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def get_service(request: Request) -> TaskService:
    return get_services(request).tasks


def get_registry(request: Request) -> Registry:
    return get_service(request).registry


def get_settings(request: Request) -> Settings:
    return get_service(request).settings


def get_pipelines(request: Request) -> PipelineService:
    return get_services(request).pipelines


def get_schedules(request: Request) -> ScheduleService:
    return get_services(request).schedules


def get_events(request: Request) -> EventService:
    return get_services(request).events


def get_flow(request: Request) -> FlowService:
    return get_services(request).flow


Service = Annotated[TaskService, Depends(get_service)]
RegistryDep = Annotated[Registry, Depends(get_registry)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
Pipelines = Annotated[PipelineService, Depends(get_pipelines)]
Schedules = Annotated[ScheduleService, Depends(get_schedules)]
Events = Annotated[EventService, Depends(get_events)]
Flow = Annotated[FlowService, Depends(get_flow)]
