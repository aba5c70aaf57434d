"""What the registry knows about a task: its callable, its options and its parameters."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from corehub.errors import InvalidInput
from corehub.resilience import Backoff, parse_rate
from corehub.tasks import TransientError

KeySource = Callable[[dict[str, Any]], str] | str


@dataclass(frozen=True, slots=True)
class TaskOptions:
    """Per-task defaults; a submit may override queue, priority and max_attempts.

    Exceptions in `retry_on` (and `corehub.tasks.TransientError`) are retried with
    exponential backoff from `backoff_base` up to `backoff_cap` seconds, full jitter,
    unless they are in `dont_retry_on`; others fail the task at once.
    """

    queue: str | None = None
    priority: str | None = None  # a configured priority name; None: the default
    max_attempts: int | None = None
    soft_time_limit: float | None = None
    time_limit: float | None = None
    backoff_base: float = 1.0
    backoff_cap: float = 300.0
    retry_on: tuple[type[BaseException], ...] = ()
    dont_retry_on: tuple[type[BaseException], ...] = ()
    # Flow control (see corehub.service.flow): a task with any of these waits in SQL until
    # the scheduler's leader admits it. A key is a kwarg name or a function of the kwargs.
    rate_limit: str | None = None  # "10/s", "100/m", "1000/h": shared by every worker
    rate_key: KeySource | None = None  # None: one bucket per task name
    concurrency: int | None = None  # most queued or running at once, per concurrency_key
    concurrency_key: KeySource | None = None  # None: one limit per task name
    needs: tuple[str, ...] = ()  # circuit breakers (dependency names) it needs closed

    def __post_init__(self) -> None:
        if self.rate_limit is not None:
            parse_rate(self.rate_limit)  # a bad rate fails the registration, not the submit
        if self.concurrency is not None and self.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {self.concurrency}")

    def backoff(self) -> Backoff:
        return Backoff(self.backoff_base, self.backoff_cap)

    def is_transient(self, exc: BaseException) -> bool:
        if isinstance(exc, self.dont_retry_on):
            return False
        return isinstance(exc, (TransientError, *self.retry_on))


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    kind: str
    annotation: str | None
    required: bool
    default: Any = None


@dataclass(frozen=True, slots=True)
class TaskSpec:
    module: str
    task: str
    func: Callable[..., Any]
    options: TaskOptions
    description: str
    parameters: tuple[Parameter, ...]
    signature: inspect.Signature = field(repr=False, compare=False)

    @property
    def name(self) -> str:
        return f"{self.module}.{self.task}"

    def check_arguments(self, args: list[Any], kwargs: dict[str, Any]) -> None:
        """Raise `InvalidInput` unless the arguments bind to the function's signature."""
        try:
            self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise InvalidInput(
                f"arguments do not match {self.name}{self.signature}: {exc}"
            ) from None


def describe(module: str, task: str, func: Callable[..., Any], options: TaskOptions) -> TaskSpec:
    signature = _signature(func)
    doc = inspect.getdoc(func) or ""
    return TaskSpec(
        module=module,
        task=task,
        func=func,
        options=options,
        description=doc.strip().splitlines()[0] if doc.strip() else "",
        parameters=tuple(_parameter(p) for p in signature.parameters.values()),
        signature=signature,
    )


def _signature(func: Callable[..., Any]) -> inspect.Signature:
    """The function's signature; a callable without one (some builtins) accepts anything."""
    try:
        return inspect.signature(func, eval_str=True)
    except (NameError, TypeError, SyntaxError):
        return inspect.signature(func)
    except ValueError:
        anything = [
            inspect.Parameter("args", inspect.Parameter.VAR_POSITIONAL),
            inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD),
        ]
        return inspect.Signature(anything)


def _parameter(p: inspect.Parameter) -> Parameter:
    annotation = None
    if p.annotation is not inspect.Parameter.empty:
        annotation = p.annotation if isinstance(p.annotation, str) else _type_name(p.annotation)
    required = p.default is inspect.Parameter.empty and p.kind not in (
        inspect.Parameter.VAR_POSITIONAL,
        inspect.Parameter.VAR_KEYWORD,
    )
    default = None if p.default is inspect.Parameter.empty else p.default
    return Parameter(p.name, p.kind.name.lower(), annotation, required, default)


def _type_name(annotation: Any) -> str:
    return annotation.__name__ if isinstance(annotation, type) else str(annotation)
