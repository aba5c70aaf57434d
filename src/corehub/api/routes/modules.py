from __future__ import annotations

from fastapi import APIRouter

from corehub.api.deps import RegistryDep
from corehub.schemas import ModuleView, TaskInfo
from corehub.service.views import module_view, task_info

router = APIRouter(tags=["modules"])


@router.get("/modules")
def list_modules(registry: RegistryDep) -> list[ModuleView]:
    """Loaded modules with version, description, config, heartbeat and their tasks."""
    return [module_view(m, registry) for m in registry.modules()]


@router.get("/modules/{name}")
def get_module(name: str, registry: RegistryDep) -> ModuleView:
    return module_view(registry.module(name), registry)


@router.get("/tasks/registered")
def list_registered_tasks(registry: RegistryDep) -> list[TaskInfo]:
    """Every task that can be submitted, with its parameters and options."""
    return [task_info(spec) for spec in registry.tasks()]
