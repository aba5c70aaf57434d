"""Pipelines as data: steps (registered tasks) joined by `after` into a DAG.

The same shape comes from Python (`Pipeline(...)` in a module's `register_tasks`) and from
JSON/YAML through the API (`Pipeline.from_dict`), so both are checked by one `validate`.
"""

from __future__ import annotations

import graphlib
import re
from dataclasses import dataclass, field, fields
from typing import Any

from corehub import jsoncodec
from corehub.errors import InvalidInput
from corehub.store.pipeline_states import FailurePolicy

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,99}$")


@dataclass(frozen=True, slots=True)
class StepOptions:
    """Per-step overrides of the task's own options."""

    queue: str | None = None
    priority: str | None = None
    max_attempts: int | None = None
    backoff_base: float | None = None
    backoff_cap: float | None = None
    soft_time_limit: float | None = None
    time_limit: float | None = None


@dataclass(frozen=True, slots=True)
class Step:
    """One step: runs `task`. A root step receives the run's input; a step with parents
    receives each parent's result as a keyword named after that parent. `kwargs` are
    fixed arguments of the step. `label` names the run's state while this step runs."""

    name: str
    task: str
    after: tuple[str, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    label: str | None = None
    options: StepOptions = field(default_factory=StepOptions)


@dataclass(frozen=True, slots=True)
class Trigger:
    """Start the pipeline for every inbound event of `source` and `type` (`*`: any type)."""

    source: str
    type: str = "*"

    def matches(self, source: str, type_: str) -> bool:
        return self.source == source and self.type in ("*", type_)


@dataclass(frozen=True, slots=True)
class Pipeline:
    name: str
    steps: tuple[Step, ...]
    failure_policy: FailurePolicy = FailurePolicy.FAIL_FAST
    triggers: tuple[Trigger, ...] = ()
    description: str = ""

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)

    def order(self) -> list[str]:
        """Step names in an order where parents come first; raises on a cycle."""
        graph = {s.name: set(s.after) for s in self.steps}
        try:
            return list(graphlib.TopologicalSorter(graph).static_order())
        except graphlib.CycleError as exc:
            raise InvalidInput(f"pipeline {self.name}: steps form a cycle: {exc.args[1]}") from None

    def check_shape(self) -> None:
        """Names, unique steps, known parents, no cycle. (Task names are checked against the
        registry by the service, which knows it.)"""
        if not NAME.match(self.name):
            raise InvalidInput(f"invalid pipeline name {self.name!r}")
        if not self.steps:
            raise InvalidInput(f"pipeline {self.name} has no steps")
        names = [s.name for s in self.steps]
        for s in self.steps:
            if not NAME.match(s.name) or "." in s.name:
                raise InvalidInput(f"pipeline {self.name}: invalid step name {s.name!r}")
            unknown = [p for p in s.after if p not in names]
            if unknown:
                raise InvalidInput(
                    f"pipeline {self.name}: step {s.name} runs after unknown step(s) "
                    f"{', '.join(unknown)}"
                )
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise InvalidInput(f"pipeline {self.name}: duplicate step(s) {', '.join(duplicates)}")
        for s in self.steps:
            problem = _step_problem(s)
            if problem:
                raise InvalidInput(f"pipeline {self.name}, step {s.name}: {problem}")
        try:
            jsoncodec.dumps(self.to_dict())
        except TypeError as exc:
            raise InvalidInput(f"pipeline {self.name} is not JSON: {exc}") from None
        self.order()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "failure_policy": self.failure_policy.value,
            "triggers": [{"source": t.source, "type": t.type} for t in self.triggers],
            "steps": [
                {
                    "name": s.name,
                    "task": s.task,
                    "after": list(s.after),
                    "kwargs": s.kwargs,
                    "label": s.label,
                    "options": {
                        f.name: getattr(s.options, f.name)
                        for f in fields(StepOptions)
                        if getattr(s.options, f.name) is not None
                    },
                }
                for s in self.steps
            ],
        }

    @classmethod
    def from_dict(cls, data: Any) -> Pipeline:
        """Build from JSON/YAML; every problem is an `InvalidInput` naming the field."""
        if not isinstance(data, dict):
            raise InvalidInput("a pipeline is an object with `name` and `steps`")
        try:
            steps = tuple(_step(s) for s in _list(data, "steps"))
            triggers = tuple(
                Trigger(str(t["source"]), str(t.get("type", "*"))) for t in _list(data, "triggers")
            )
            pipeline = cls(
                name=str(data["name"]),
                steps=steps,
                failure_policy=FailurePolicy(data.get("failure_policy", "fail_fast")),
                triggers=triggers,
                description=str(data.get("description") or ""),
            )
        except KeyError as exc:
            raise InvalidInput(f"pipeline field missing: {exc.args[0]}") from None
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"invalid pipeline: {exc}") from None
        pipeline.check_shape()
        return pipeline


LABEL_MAX = 32  # pipeline_steps.label
POSITIVE = ("backoff_base", "backoff_cap", "soft_time_limit", "time_limit")


def _step_problem(step: Step) -> str | None:
    """What is wrong with a step's label or options, checked when it is defined (a bad
    value found only when the step is released would fail its parent's finish)."""
    if step.label is not None and (not isinstance(step.label, str) or len(step.label) > LABEL_MAX):
        return f"`label` must be text of at most {LABEL_MAX} characters"
    if not isinstance(step.kwargs, dict):
        return "`kwargs` must be an object"
    o = step.options
    for name in ("queue", "priority"):
        value = getattr(o, name)
        if value is not None and (not isinstance(value, str) or not 0 < len(value) <= 100):
            return f"option `{name}` must be a name of at most 100 characters"
    attempts = o.max_attempts
    if attempts is not None and (
        isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 1000
    ):
        return "option `max_attempts` must be a whole number from 1 to 1000"
    for name in POSITIVE:
        value = getattr(o, name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 10**7
        ):
            return f"option `{name}` must be a number of seconds above 0"
    return None


def _list(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key) or []
    if not isinstance(value, list):
        raise InvalidInput(f"pipeline field {key!r} must be a list")
    return value


def _step(data: Any) -> Step:
    if not isinstance(data, dict):
        raise InvalidInput("each step is an object with `name` and `task`")
    after = data.get("after") or []
    if isinstance(after, str):
        after = [after]
    options = data.get("options") or {}
    if not isinstance(options, dict):
        raise InvalidInput(f"step {data.get('name')}: `options` must be an object")
    known = {f.name for f in fields(StepOptions)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise InvalidInput(
            f"step {data.get('name')}: unknown option(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(known))}"
        )
    kwargs = data.get("kwargs") or {}
    if not isinstance(kwargs, dict):
        raise InvalidInput(f"step {data.get('name')}: `kwargs` must be an object")
    return Step(
        name=str(data["name"]),
        task=str(data["task"]),
        after=tuple(str(a) for a in after),
        kwargs=kwargs,
        label=data.get("label"),
        options=StepOptions(**options),
    )
