"""Events in: a signed delivery becomes a stored standard event and the pipeline runs it
starts, once per delivery id however often the sender delivers it."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from corehub.config import Settings
from corehub.errors import CorehubError, NotFound, PayloadTooLarge, Unavailable
from corehub.pipelines import Pipeline
from corehub.schemas import InboundEventView
from corehub.service.inbound import normalise, verify_signature
from corehub.service.outbox import Publisher, publish_committed
from corehub.store import TaskStore
from corehub.store.inbound import InboundStore, StandardEvent
from corehub.store.pipeline_records import NewRun

log = logging.getLogger(__name__)
PING = "ping"  # GitHub's hello when a hook is set up: starts only what names it


class Planner(Protocol):
    """What events need of the pipeline service."""

    def subscribers(self, source: str, event_type: str) -> list[Pipeline]: ...

    def plan(
        self,
        pipeline: Pipeline,
        input: dict[str, Any],
        *,
        event_id: str | None = None,
        owner: str | None = None,
    ) -> NewRun: ...


@dataclass(frozen=True, slots=True)
class Received:
    """`created` False: the delivery was seen before and `event` is the original."""

    event: StandardEvent
    created: bool


class EventService:
    def __init__(
        self,
        store: InboundStore,
        pipelines: Planner,
        tasks: TaskStore,
        publisher: Publisher | None,
        settings: Settings,
    ) -> None:
        self.store = store
        self.pipelines = pipelines
        self.tasks = tasks
        self.publisher = publisher
        self.settings = settings

    def receive(self, source: str, headers: Mapping[str, str], body: bytes) -> Received:
        """Verify, normalise, store and start, in that order: nothing is stored or started
        for a delivery that fails a check. Unknown source: `NotFound`; missing or wrong
        signature: `Unauthorized`; no type, no delivery id or not JSON: `InvalidInput`."""
        config = self.settings.events.sources.get(source)
        if config is None:
            raise NotFound(f"no event source {source!r}")
        lowered = {k.lower(): v for k, v in headers.items()}
        verify_signature(config, lowered, body)
        event = normalise(source, config, lowered, body)
        seen = self.store.find(source, event.delivery_id)
        if seen is not None:  # the common replay, answered without planning anything
            return Received(seen, created=False)
        recorded = self.store.record(event, self._plan(event))
        publish_committed(self.tasks, self.publisher, recorded.tasks, mark="later")
        if recorded.created:
            log.info(
                "event %s from %s (%s) started %d run(s)",
                event.type,
                source,
                event.delivery_id,
                len(recorded.event.runs),
            )
        return Received(recorded.event, recorded.created)

    def _plan(self, event: StandardEvent) -> list[NewRun]:
        """A run of every subscribed pipeline, planned before anything is written. A pipeline
        that cannot be planned (a task it names is gone) is the hub's configuration problem:
        nothing is stored, so the delivery can be sent again once it is fixed."""
        pipelines = self.pipelines.subscribers(event.source, event.type)
        if event.type == PING:  # a catch-all trigger does not start on a hook's hello
            pipelines = [p for p in pipelines if _names(p, event.source, PING)]
        runs: list[NewRun] = []
        for pipeline in pipelines:
            try:
                runs.append(
                    self.pipelines.plan(pipeline, {"event": event.as_input()}, event_id=event.id)
                )
            except PayloadTooLarge:
                raise  # the event is too large to hand to a run: 413, as for a task
            except CorehubError as exc:
                # Nothing is stored, so the sender's retry succeeds once the pipeline is fixed.
                raise Unavailable(
                    f"pipeline {pipeline.name} cannot start for this event: {exc.detail}"
                ) from exc
        return runs

    def get(self, event_id: str) -> StandardEvent:
        event = self.store.get(event_id)
        if event is None:
            raise NotFound(f"no event with id {event_id!r}")
        return event

    def list(self, source: str | None = None, *, limit: int = 50) -> list[StandardEvent]:
        return self.store.list(source, limit=limit)


def _names(pipeline: Pipeline, source: str, event_type: str) -> bool:
    return any(t.source == source and t.type == event_type for t in pipeline.triggers)


def inbound_view(e: StandardEvent) -> InboundEventView:
    return InboundEventView(
        id=e.id,
        source=e.source,
        delivery_id=e.delivery_id,
        type=e.type,
        subject=e.subject,
        payload=e.payload,
        runs=e.runs,
        received_at=e.received_at,
    )
