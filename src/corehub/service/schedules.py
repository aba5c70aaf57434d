"""Periodic schedules as the API, the CLI and the config file define them.

A schedule's task is checked like a submitted one (name, arguments, priority) when the
schedule is defined, so a bad definition fails at once rather than at every slot. Schedules
from the config file belong to it: the API may pause, resume and run them, not change them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from corehub.config.settings import (
    ScheduleConfig,
    check_cron,
    check_schedule_name,
    check_timezone,
)
from corehub.errors import ConfigError, Conflict, CorehubError, InvalidInput, NotFound
from corehub.scheduler.periodic import Timing
from corehub.schemas import ScheduleDefinition, ScheduleView
from corehub.service.tasks import SubmitRequest, TaskService
from corehub.store import TaskRecord
from corehub.store.schedules import ScheduleRecord, ScheduleSpec, ScheduleStore

MISFIRE_POLICIES = ("skip", "run_once")


@dataclass(frozen=True, slots=True)
class ScheduleRequest:
    name: str
    task_name: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    args: list[Any] = field(default_factory=list)
    every: float | None = None  # seconds
    cron: str | None = None  # five fields, in `timezone`
    timezone: str = "UTC"
    misfire: str = "skip"
    queue: str | None = None
    priority: str | None = None
    paused: bool = False


class ScheduleService:
    def __init__(self, store: ScheduleStore, tasks: TaskService) -> None:
        self.store = store
        self.tasks = tasks

    # -- reading -----------------------------------------------------------------------------

    def list_schedules(self) -> list[ScheduleRecord]:
        return self.store.list_schedules()

    def get(self, name: str) -> ScheduleRecord:
        record = self.store.get(name)
        if record is None:
            raise NotFound(f"no schedule named {name!r}")
        return record

    # -- defining ----------------------------------------------------------------------------

    def create(self, req: ScheduleRequest) -> ScheduleRecord:
        """A new schedule, first due at its next slot from now; `Conflict` if the name is
        taken."""
        spec = self._spec(req, "api")
        return self.store.create(spec, next_fire_at=self._first_slot(spec))

    def update(self, name: str, req: ScheduleRequest) -> ScheduleRecord:
        """Replace an API schedule's definition; its next slot moves only if its timing
        changed."""
        existing = self._owned_by_api(name)
        spec = self._spec(req, "api")
        if spec.name != name:
            raise InvalidInput(f"the body names schedule {spec.name!r}, the path {name!r}")
        following = existing.next_fire_at if spec.same_timing(existing) else self._first_slot(spec)
        record = self.store.replace(spec, next_fire_at=following)
        if record is None:
            raise NotFound(f"no schedule named {name!r}")
        return record

    def delete(self, name: str) -> None:
        self._owned_by_api(name)
        if not self.store.delete(name):
            raise NotFound(f"no schedule named {name!r}")

    def pause(self, name: str) -> ScheduleRecord:
        return self._paused(name, True)

    def resume(self, name: str) -> ScheduleRecord:
        """Unpause; the slots that passed while paused are not fired."""
        return self._paused(name, False)

    def run_now(self, name: str) -> TaskRecord:
        """Submit the schedule's task once, now, beside its slots (which it does not move)."""
        r = self.get(name)
        return self.tasks.submit(
            SubmitRequest(r.task_name, r.kwargs, args=r.args, queue=r.queue, priority=r.priority)
        )

    def sync_config(self, configs: Sequence[ScheduleConfig]) -> None:
        """Make the config file's schedules the table's `config` ones: add, redefine, and
        delete those no longer configured. `ConfigError` (one line each) for a schedule
        whose task is unknown or whose arguments do not fit it."""
        specs, problems = [], []
        for i, c in enumerate(configs):
            try:
                specs.append(self._spec(_request(c), "config"))
            except CorehubError as exc:
                problems.append(f"schedules.{i} ({c.name}): {exc.detail}")
        if problems:
            raise ConfigError(problems)
        existing = {r.name: r for r in self.store.list_schedules()}
        for spec in specs:
            self._sync_one(spec, existing.get(spec.name))
        configured = {s.name for s in specs}
        for name, record in existing.items():
            if record.source == "config" and name not in configured:
                self.store.delete(name)

    # -- rules -------------------------------------------------------------------------------

    def _sync_one(self, spec: ScheduleSpec, old: ScheduleRecord | None) -> None:
        if old is None:
            try:
                self.store.create(spec, next_fire_at=self._first_slot(spec))
                return
            except Conflict:  # another scheduler starting beside this one made it
                old = self.store.get(spec.name)
                if old is None:
                    return
        following = old.next_fire_at if spec.same_timing(old) else self._first_slot(spec)
        # A pause through the API or CLI outlives restarts; `paused: true` in config wins.
        spec = replace(spec, paused=spec.paused or old.paused)
        self.store.replace(spec, next_fire_at=following)

    def _owned_by_api(self, name: str) -> ScheduleRecord:
        record = self.get(name)
        if record.source != "api":
            raise Conflict(f"schedule {name!r} comes from the config file; change it there")
        return record

    def _paused(self, name: str, paused: bool) -> ScheduleRecord:
        record = self.get(name)
        if record.paused == paused:
            return record
        following = None if paused else self._first_slot(record)
        updated = self.store.set_paused(name, paused, next_fire_at=following)
        if updated is None:
            raise NotFound(f"no schedule named {name!r}")
        return updated

    def _first_slot(self, spec: ScheduleSpec | ScheduleRecord) -> datetime:
        timing = Timing(spec.every_seconds, spec.cron, spec.timezone)
        return timing.next_after(self.store.db.clock())

    def _spec(self, req: ScheduleRequest, source: str) -> ScheduleSpec:
        """Check a definition: its name, its timing, and its task as a submit would."""
        try:
            check_schedule_name(req.name)
            if req.cron is not None:
                check_cron(req.cron)
            check_timezone(req.timezone)
            Timing(req.every, req.cron, req.timezone)
        except ValueError as exc:
            raise InvalidInput(f"schedule {req.name!r}: {exc}") from None
        if req.misfire not in MISFIRE_POLICIES:
            raise InvalidInput(f"misfire must be one of {', '.join(MISFIRE_POLICIES)}")
        submit = SubmitRequest(
            req.task_name, req.kwargs, args=req.args, queue=req.queue, priority=req.priority
        )
        try:
            task = self.tasks.prepare(submit)
        except NotFound as exc:  # an unknown task is a bad definition, not a missing schedule
            raise InvalidInput(exc.detail) from None
        return ScheduleSpec(
            name=req.name,
            task_name=task.name,
            args=list(req.args),
            kwargs=dict(req.kwargs),
            every_seconds=req.every,
            cron=req.cron,
            timezone=req.timezone,
            misfire=req.misfire,
            queue=req.queue,
            priority=req.priority,
            paused=req.paused,
            source=source,
        )


def _request(c: ScheduleConfig) -> ScheduleRequest:
    return ScheduleRequest(
        name=c.name,
        task_name=c.task,
        kwargs=c.kwargs,
        args=c.args,
        every=c.every,
        cron=c.cron,
        timezone=c.timezone,
        misfire=c.misfire,
        queue=c.queue,
        priority=c.priority,
        paused=c.paused,
    )


def schedule_request(name: str, body: ScheduleDefinition) -> ScheduleRequest:
    return ScheduleRequest(
        name=name,
        task_name=body.task_name,
        kwargs=body.kwargs,
        args=body.args,
        every=body.every,
        cron=body.cron,
        timezone=body.timezone,
        misfire=body.misfire,
        queue=body.queue,
        priority=body.priority,
        paused=body.paused,
    )


def schedule_view(r: ScheduleRecord) -> ScheduleView:
    return ScheduleView(
        name=r.name,
        task_name=r.task_name,
        kwargs=r.kwargs,
        args=r.args,
        every=r.every_seconds,
        cron=r.cron,
        timezone=r.timezone,
        misfire=r.misfire,
        queue=r.queue,
        priority=r.priority,
        paused=r.paused,
        source=r.source,
        next_fire_at=r.next_fire_at,
        last_fire_at=r.last_fire_at,
        created_at=r.created_at,
        updated_at=r.updated_at,
    )
