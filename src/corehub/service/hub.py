"""Every service an entry point reaches, built once by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from corehub.service.events import EventService
from corehub.service.flow import FlowService
from corehub.service.pipelines import PipelineService
from corehub.service.schedules import ScheduleService
from corehub.service.tasks import TaskService


@dataclass(frozen=True, slots=True)
class Services:
    tasks: TaskService
    pipelines: PipelineService
    schedules: ScheduleService
    events: EventService
    flow: FlowService
