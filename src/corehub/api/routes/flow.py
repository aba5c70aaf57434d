"""Flow control as operators see it: circuit breakers and rate/concurrency limits."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from corehub.api.deps import get_service
from corehub.schemas import BreakerView, FlowLimits
from corehub.service.flow import FlowPolicy, FlowService

router = APIRouter(prefix="/flow", tags=["flow"])


def get_flow(request: Request) -> FlowService:
    """Built once per app from the task service's database, settings and registry."""
    flow: FlowService | None = getattr(request.app.state, "flow", None)
    if flow is None:
        tasks = get_service(request)
        flow = FlowService(tasks.store.db, FlowPolicy(tasks.settings, tasks.registry))
        request.app.state.flow = flow
    return flow


Flow = Annotated[FlowService, Depends(get_flow)]


@router.get("/breakers")
def list_breakers(flow: Flow) -> list[BreakerView]:
    """Every circuit breaker a task has needed: state, failures in the window, totals."""
    return flow.breakers()


@router.post("/breakers/{name}/reset")
def reset_breaker(name: str, flow: Flow) -> BreakerView:
    """Close a breaker by hand; tasks waiting on it are admitted at their next look."""
    return flow.reset_breaker(name)


@router.get("/limits")
def list_limits(flow: Flow) -> FlowLimits:
    """Rate limits with the tokens each bucket holds now; concurrency limits with what
    counts against them (queued or started tasks) per key."""
    return flow.limits()
