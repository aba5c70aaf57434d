"""Flow control as operators see it: circuit breakers and rate/concurrency limits."""

from __future__ import annotations

from fastapi import APIRouter

from corehub.api.deps import Flow
from corehub.schemas import BreakerView, FlowLimits

router = APIRouter(prefix="/flow", tags=["flow"])


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
