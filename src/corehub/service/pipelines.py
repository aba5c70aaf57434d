"""Defining, starting and steering pipeline runs: the rules the API, CLI and events share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from corehub.errors import Conflict, InvalidInput, NotFound
from corehub.pipelines import Pipeline, Step
from corehub.registry import Registry
from corehub.service.outbox import Publisher, apply_changes
from corehub.service.tasks import SubmitRequest, TaskService
from corehub.store.pipeline_records import (
    NewRun,
    NewStep,
    PipelineEventRecord,
    RunPage,
    RunRecord,
)
from corehub.store.pipeline_states import RunStatus
from corehub.store.pipelines import Changed, PipelineStore

# What a released step's task takes from its plan (the rest is per release).
TEMPLATE_FIELDS = (
    "name",
    "queue",
    "priority",
    "max_attempts",
    "backoff_base",
    "backoff_cap",
    "soft_time_limit",
    "time_limit",
    "rate_key",
    "concurrency_key",
    "needs",
    "gated",
)


@dataclass(frozen=True, slots=True)
class PipelineInfo:
    pipeline: Pipeline
    source: str  # "code" (a module registered it) or "api"


class PipelineService:
    def __init__(
        self,
        store: PipelineStore,
        registry: Registry,
        tasks: TaskService,
        publisher: Publisher | None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.tasks = tasks
        self.publisher = publisher

    # -- definitions -----------------------------------------------------------------------

    def definitions(self) -> list[PipelineInfo]:
        found = {p.name: PipelineInfo(p, "code") for p in self.registry.pipelines()}
        for name, spec in self.store.definitions().items():
            if name not in found:
                found[name] = PipelineInfo(Pipeline.from_dict(spec), "api")
        return [found[n] for n in sorted(found)]

    def definition(self, name: str) -> PipelineInfo:
        code = self.registry.pipeline(name)
        if code is not None:
            return PipelineInfo(code, "code")
        spec = self.store.definitions().get(name)
        if spec is None:
            known = ", ".join(i.pipeline.name for i in self.definitions()) or "none"
            raise NotFound(f"unknown pipeline {name!r}; known: {known}")
        return PipelineInfo(Pipeline.from_dict(spec), "api")

    def define(self, spec: Any) -> tuple[PipelineInfo, bool]:
        """Store a pipeline sent as JSON/YAML; True when it is new. Checked in full first."""
        pipeline = Pipeline.from_dict(spec)
        if self.registry.pipeline(pipeline.name) is not None:
            raise Conflict(f"pipeline {pipeline.name} is defined in code and cannot be replaced")
        self._check_tasks(pipeline)
        for step in pipeline.steps:
            if step.after:  # a root step's arguments are the run's input, known at run time
                self._plan_step(pipeline, step, {})
        created = self.store.save_definition(pipeline.name, pipeline.to_dict())
        return PipelineInfo(pipeline, "api"), created

    def delete(self, name: str) -> None:
        if self.registry.pipeline(name) is not None:
            raise Conflict(f"pipeline {name} is defined in code and cannot be deleted")
        if not self.store.delete_definition(name):
            raise NotFound(f"unknown pipeline {name!r}")

    def subscribers(self, source: str, event_type: str) -> list[Pipeline]:
        """Pipelines started by an inbound event of this source and type."""
        return [
            info.pipeline
            for info in self.definitions()
            if any(t.matches(source, event_type) for t in info.pipeline.triggers)
        ]

    def _check_tasks(self, pipeline: Pipeline) -> None:
        for step in pipeline.steps:
            try:
                self.registry.get(step.task)
            except NotFound as exc:
                raise InvalidInput(f"pipeline {pipeline.name}, step {step.name}: {exc}") from None

    # -- runs ------------------------------------------------------------------------------

    def plan(
        self,
        pipeline: Pipeline,
        input: dict[str, Any],
        *,
        event_id: str | None = None,
        owner: str | None = None,
    ) -> NewRun:
        """Resolve every step's task options now, so its release needs no registry; a step
        whose arguments cannot bind fails the plan, before anything is stored."""
        if not isinstance(input, dict):
            raise InvalidInput("a pipeline's input is an object of keyword arguments")
        self._check_tasks(pipeline)
        by_name = {s.name: s for s in pipeline.steps}
        steps = [self._plan_step(pipeline, by_name[n], input) for n in pipeline.order()]
        return NewRun(
            pipeline=pipeline.name,
            steps=steps,
            input=input,
            failure_policy=pipeline.failure_policy.value,
            event_id=event_id,
            owner=owner,
        )

    def _plan_step(self, pipeline: Pipeline, step: Step, input: dict[str, Any]) -> NewStep:
        o = step.options
        # Parents' results are unknown yet: bind their names to None to check the signature.
        kwargs = {**(input if not step.after else {}), **step.kwargs}
        kwargs.update({p: None for p in step.after})
        try:
            new = self.tasks.prepare(
                flow=not step.after,
                req=SubmitRequest(
                    step.task,
                    kwargs,
                    queue=o.queue,
                    priority=o.priority,
                    max_attempts=o.max_attempts,
                    backoff_base=o.backoff_base,
                    backoff_cap=o.backoff_cap,
                ),
            )
        except (InvalidInput, NotFound) as exc:
            raise InvalidInput(
                f"pipeline {pipeline.name}, step {step.name}: {exc.detail}"
            ) from None
        template = {f: getattr(new, f) for f in TEMPLATE_FIELDS}
        template["soft_time_limit"] = o.soft_time_limit
        template["time_limit"] = o.time_limit
        return NewStep(
            name=step.name,
            task_name=step.task,
            parents=list(step.after),
            kwargs=step.kwargs,
            task=template,
            label=step.label,
        )

    def start(
        self, name: str, input: dict[str, Any] | None = None, *, owner: str | None = None
    ) -> RunRecord:
        run = self.plan(self.definition(name).pipeline, input or {}, owner=owner)
        apply_changes(self.tasks.store, self.publisher, Changed(self.store.create([run]), []))
        return self.get_run(run.id)

    def cancel(self, run_id: str) -> RunRecord:
        apply_changes(self.tasks.store, self.publisher, Changed([], self.store.cancel(run_id)))
        return self.get_run(run_id)

    def rerun(self, run_id: str) -> RunRecord:
        apply_changes(self.tasks.store, self.publisher, Changed(self.store.rerun(run_id), []))
        return self.get_run(run_id)

    def get_run(self, run_id: str) -> RunRecord:
        run = self.store.get(run_id)
        if run is None:
            raise NotFound(f"no pipeline run with id {run_id!r}")
        return run

    def list_runs(
        self,
        *,
        pipeline: str | None = None,
        statuses: Sequence[str] = (),
        limit: int,
        cursor: str | None = None,
    ) -> RunPage:
        known = {s.value for s in RunStatus}
        unknown = [s for s in statuses if s not in known]
        if unknown:
            raise InvalidInput(
                f"unknown run status {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        return self.store.list_runs(
            pipeline=pipeline, statuses=statuses, limit=limit, cursor=cursor
        )

    def events(self, run_id: str, *, after: int = 0) -> list[PipelineEventRecord]:
        self.get_run(run_id)
        return self.store.events(run_id, after=after)
