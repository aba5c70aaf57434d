"""Periodic schedules: define, pause, resume, run now. The leader fires their slots."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from corehub.api.deps import Schedules
from corehub.schemas import (
    CreateScheduleRequest,
    Problem,
    ScheduleDefinition,
    ScheduleView,
    TaskView,
)
from corehub.service.schedules import schedule_request, schedule_view
from corehub.service.views import task_view

router = APIRouter(tags=["schedules"])
CONFIG_OWNED: dict[int | str, dict[str, Any]] = {
    409: {"model": Problem, "description": "the schedule comes from the config file"}
}


@router.get("/schedules")
def list_schedules(schedules: Schedules) -> list[ScheduleView]:
    """Every schedule, by name, with its next slot."""
    return [schedule_view(r) for r in schedules.list_schedules()]


@router.post("/schedules", status_code=201, responses={409: {"model": Problem}})
def create_schedule(body: CreateScheduleRequest, schedules: Schedules) -> ScheduleView:
    """Define a schedule (409 if the name is taken); it first fires at its next slot."""
    return schedule_view(schedules.create(schedule_request(body.name, body)))


@router.get("/schedules/{name}")
def get_schedule(name: str, schedules: Schedules) -> ScheduleView:
    return schedule_view(schedules.get(name))


@router.put("/schedules/{name}", responses=CONFIG_OWNED)
def update_schedule(name: str, body: ScheduleDefinition, schedules: Schedules) -> ScheduleView:
    """Redefine a schedule made through the API; its next slot moves if its timing changed."""
    return schedule_view(schedules.update(name, schedule_request(name, body)))


@router.delete("/schedules/{name}", status_code=204, responses=CONFIG_OWNED)
def delete_schedule(name: str, schedules: Schedules) -> Response:
    """Remove a schedule made through the API (the tasks it fired stay)."""
    schedules.delete(name)
    return Response(status_code=204)


@router.post("/schedules/{name}/pause")
def pause_schedule(name: str, schedules: Schedules) -> ScheduleView:
    return schedule_view(schedules.pause(name))


@router.post("/schedules/{name}/resume")
def resume_schedule(name: str, schedules: Schedules) -> ScheduleView:
    """Unpause; slots that passed while paused are not fired."""
    return schedule_view(schedules.resume(name))


@router.post("/schedules/{name}/run", status_code=202)
def run_schedule(name: str, schedules: Schedules) -> TaskView:
    """Submit the schedule's task once, now; its slots stay as they are."""
    return task_view(schedules.run_now(name))
