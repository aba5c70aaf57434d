"""The catalogue of modules and their tasks, filled by discovery or by hand."""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from corehub.errors import Conflict, NotFound
from corehub.pipelines.definition import Pipeline
from corehub.registry.specs import TaskOptions, TaskSpec, describe

log = logging.getLogger(__name__)
ModuleHeartbeat = Callable[[], dict[str, Any]]


@dataclass
class ModuleInfo:
    name: str
    version: str
    description: str
    source: str
    config: dict[str, Any] = field(default_factory=dict)
    heartbeat: ModuleHeartbeat | None = None
    tasks: list[str] = field(default_factory=list)


class DuplicateTask(Conflict):
    """A second registration of the same `module.task`."""


class Registry:
    """Task names are `module.task`; each name is registered once."""

    def __init__(self) -> None:
        self._tasks: dict[str, TaskSpec] = {}
        self._modules: dict[str, ModuleInfo] = {}
        self._pipelines: dict[str, Pipeline] = {}

    def register_pipeline(self, pipeline: Pipeline) -> Pipeline:
        """A pipeline defined in code; its steps' tasks are checked when it is run."""
        pipeline.check_shape()
        if pipeline.name in self._pipelines:
            raise Conflict(f"pipeline {pipeline.name} is already registered")
        self._pipelines[pipeline.name] = pipeline
        return pipeline

    def queues(self) -> list[str]:
        """Every queue a registered task or a code pipeline's step is routed to."""
        named = {s.options.queue for s in self._tasks.values()}
        named |= {step.options.queue for p in self._pipelines.values() for step in p.steps}
        return sorted(q for q in named if q)

    def pipelines(self) -> list[Pipeline]:
        return sorted(self._pipelines.values(), key=lambda p: p.name)

    def pipeline(self, name: str) -> Pipeline | None:
        return self._pipelines.get(name)

    def register_task(
        self, module: str, task: str, func: Callable[..., Any], **options: Any
    ) -> TaskSpec:
        """The seed's form: `registry.register_task("echo_bot", "echo", echo, queue=...)`."""
        spec = describe(module, task, func, TaskOptions(**options))
        if spec.name in self._tasks:
            raise DuplicateTask(f"task {spec.name} is already registered")
        self._tasks[spec.name] = spec
        info = self._modules.setdefault(module, ModuleInfo(module, "0", "", source="code"))
        info.tasks.append(task)
        return spec

    def task(
        self, module: str, name: str | None = None, **options: Any
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator form of `register_task`; the task name defaults to the function's."""

        def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
            self.register_task(module, name or func.__name__, func, **options)
            return func

        return decorate

    def add_module(self, info: ModuleInfo) -> None:
        existing = self._modules.get(info.name)
        if existing is not None:
            info.tasks = existing.tasks
        self._modules[info.name] = info

    def drop_module(self, name: str) -> None:
        """Forget a module and its tasks (a module whose registration failed half-way)."""
        info = self._modules.pop(name, None)
        for task in info.tasks if info else []:
            self._tasks.pop(f"{name}.{task}", None)

    def has_module(self, name: str) -> bool:
        return name in self._modules

    def get(self, name: str) -> TaskSpec:
        """The spec of `module.task`, or `NotFound` naming it with close matches."""
        try:
            return self._tasks[name]
        except KeyError:
            close = difflib.get_close_matches(name, self._tasks, n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise NotFound(f"unknown task {name!r}{hint}", close_matches=close) from None

    def find(self, name: str) -> TaskSpec | None:
        return self._tasks.get(name)

    def tasks(self) -> list[TaskSpec]:
        return sorted(self._tasks.values(), key=lambda s: s.name)

    def modules(self) -> list[ModuleInfo]:
        return sorted(self._modules.values(), key=lambda m: m.name)

    def module(self, name: str) -> ModuleInfo:
        try:
            return self._modules[name]
        except KeyError:
            raise NotFound(f"unknown module {name!r}") from None

    def heartbeat(self, name: str) -> dict[str, Any]:
        """A module's own health report; a failing heartbeat is reported, not raised."""
        info = self.module(name)
        if info.heartbeat is None:
            return {"status": "ok"}
        try:
            return dict(info.heartbeat())
        except Exception as exc:
            log.warning("heartbeat of module %s failed: %s", name, exc)
            return {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
