"""Events in: webhooks from configured sources, and the events the hub has stored."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from corehub.api.deps import Events, SettingsDep
from corehub.schemas import InboundEventView, Problem
from corehub.service.events import inbound_view

router = APIRouter(tags=["events"])


@router.post(
    "/events/{source}",
    status_code=202,
    responses={
        200: {"model": InboundEventView, "description": "a delivery seen before: the original"},
        401: {"model": Problem, "description": "signature missing or wrong"},
        404: {"model": Problem, "description": "no such source"},
        422: {"model": Problem, "description": "no event type, no delivery id or not JSON"},
    },
)
async def receive_event(
    source: str, request: Request, response: Response, events: Events
) -> InboundEventView:
    """Accept a signed delivery (GitHub webhook form): 202 once the event and the pipeline
    runs it starts are committed. The same delivery id again answers 200 with the original
    event and its runs, and starts nothing.

    The body is read raw, once, because the signature covers its exact bytes.
    """
    body = await request.body()
    received = await run_in_threadpool(events.receive, source, dict(request.headers), body)
    if not received.created:
        response.status_code = 200
    return inbound_view(received.event)


@router.get("/events")
def list_events(
    events: Events,
    settings: SettingsDep,
    source: str | None = None,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
) -> list[InboundEventView]:
    """Stored events, newest first."""
    found = events.list(source, limit=limit or settings.api.page_size)
    return [inbound_view(e) for e in found]


@router.get("/events/{event_id}")
def get_event(event_id: str, events: Events) -> InboundEventView:
    return inbound_view(events.get(event_id))
