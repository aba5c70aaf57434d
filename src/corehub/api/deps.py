"""What routes receive: the services the composition root put on `app.state`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from corehub.config import Settings
from corehub.registry import Registry
from corehub.service import TaskService


def get_service(request: Request) -> TaskService:
    service: TaskService = request.app.state.service
    return service


def get_registry(request: Request) -> Registry:
    return get_service(request).registry


def get_settings(request: Request) -> Settings:
    return get_service(request).settings


Service = Annotated[TaskService, Depends(get_service)]
RegistryDep = Annotated[Registry, Depends(get_registry)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
