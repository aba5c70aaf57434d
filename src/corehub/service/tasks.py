"""Accepting and reading tasks: the rules every entry point (API, CLI, library) shares."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from corehub import jsoncodec
from corehub.config import Settings
from corehub.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge
from corehub.registry import Registry
from corehub.service.flow import FlowPolicy
from corehub.service.outbox import Publisher, publish_committed
from corehub.store import (
    EventRecord,
    NewTask,
    Page,
    TaskFilter,
    TaskRecord,
    TaskStatus,
    TaskStore,
)
from corehub.store.group_commit import GroupCommit
from corehub.store.leadership import LeaderLeases

SCHEDULER_ROLE = "scheduler"
MAX_DELAY = timedelta(days=3650)  # a countdown beyond this is a mistake, not a plan
REPLAYABLE = frozenset({TaskStatus.DEAD, TaskStatus.FAILURE, TaskStatus.CANCELLED})


def parse_statuses(names: Iterable[str]) -> tuple[TaskStatus, ...]:
    """Status filters as people write them (repeated or comma-separated)."""
    wanted = [n.strip() for item in names for n in item.split(",") if n.strip()]
    try:
        return tuple(TaskStatus(n) for n in wanted)
    except ValueError:
        known = ", ".join(s.value for s in TaskStatus)
        raise InvalidInput(f"unknown status in {wanted}; known: {known}") from None


@dataclass(slots=True)  # not frozen, as NewTask: one is built per task submitted
class SubmitRequest:
    task_name: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    args: list[Any] = field(default_factory=list)
    queue: str | None = None
    priority: str | None = None
    max_attempts: int | None = None
    backoff_base: float | None = None
    backoff_cap: float | None = None
    idempotency_key: str | None = None
    owner: str | None = None
    run_at: datetime | None = None  # not before this moment (timezone-aware)
    countdown: float | None = None  # or this many seconds from now, on the database clock


@dataclass(frozen=True, slots=True)
class Accepted:
    record: TaskRecord
    created: bool


def _request_hash(req: SubmitRequest) -> str:
    """What an idempotency key stands for: the task and everything that shapes its run."""
    meaning = [
        req.task_name,
        req.args,
        req.kwargs,
        req.queue,
        req.priority,
        req.max_attempts,
        req.backoff_base,
        req.backoff_cap,
    ]
    if req.run_at is not None or req.countdown is not None:  # older hashes stay valid
        meaning += [req.run_at.isoformat() if req.run_at else None, req.countdown]
    return hashlib.sha256(jsoncodec.canonical(meaning)).hexdigest()


class TaskService:
    def __init__(
        self,
        store: TaskStore,
        registry: Registry,
        publisher: Publisher | None,
        settings: Settings,
    ) -> None:
        self.store = store
        self.registry = registry
        self.publisher = publisher
        self.settings = settings
        self.flow = FlowPolicy(settings, registry)
        # Concurrent single submits share a transaction and a publish.
        self._group: GroupCommit[SubmitRequest, Accepted] = GroupCommit(self._accept_each)

    def prepare(self, req: SubmitRequest, *, flow: bool = True) -> NewTask:
        """Check a request against the registry; nothing is stored if this raises. With
        `flow=False` the flow keys are left for later (a pipeline step gets them when it is
        released with its parents' results)."""
        spec = self.registry.get(req.task_name)
        spec.check_arguments(req.args, req.kwargs)
        try:
            size = len(jsoncodec.dumps([req.args, req.kwargs]))
        except TypeError as exc:
            raise InvalidInput(f"arguments are not JSON: {exc}") from None
        if size > self.settings.api.max_body_bytes:
            raise PayloadTooLarge(
                f"arguments are {size} bytes; the limit is {self.settings.api.max_body_bytes}"
            )
        options = spec.options
        return NewTask(
            name=spec.name,
            args=list(req.args),
            kwargs=dict(req.kwargs),
            queue=req.queue or options.queue or self.settings.tasks.default_queue,
            priority=self._priority(req.priority or options.priority),
            max_attempts=req.max_attempts
            or options.max_attempts
            or self.settings.tasks.max_attempts,
            backoff_base=req.backoff_base,
            backoff_cap=req.backoff_cap,
            idempotency_key=req.idempotency_key,
            owner=req.owner,
            request_hash=_request_hash(req) if req.idempotency_key else None,
            run_at=self._run_at(req),
            **(self.flow.gate(spec, req.args, req.kwargs) if flow else {}),
        )

    def _run_at(self, req: SubmitRequest) -> datetime | None:
        """When a delayed task is due. A countdown counts on the database's clock, the one
        the leader releases by, so a skewed client or API host cannot make it early."""
        if req.run_at is not None and req.countdown is not None:
            raise InvalidInput("give run_at or countdown, not both")
        if req.countdown is not None:
            if not 0 <= req.countdown <= MAX_DELAY.total_seconds():
                raise InvalidInput(f"countdown must be 0 to {MAX_DELAY.total_seconds():g} seconds")
            return self.store.db.clock() + timedelta(seconds=req.countdown)
        if req.run_at is None:
            return None
        if req.run_at.utcoffset() is None:
            raise InvalidInput("run_at needs a time zone (e.g. 2030-01-01T09:00:00+00:00)")
        try:
            at = req.run_at.astimezone(UTC)
        except OverflowError:
            raise InvalidInput("run_at is out of range") from None
        if at - datetime.now(UTC) > MAX_DELAY:
            raise InvalidInput(f"run_at is more than {MAX_DELAY.days} days ahead")
        return at

    def _priority(self, name: str | None) -> str:
        names = self.settings.tasks.priorities
        if name is None:
            return self.settings.tasks.default_priority
        if name not in names:
            raise InvalidInput(f"unknown priority {name!r}; known: {', '.join(names)}")
        return name

    def submit(self, req: SubmitRequest) -> TaskRecord:
        return self.accept(req).record

    def accept(self, req: SubmitRequest) -> Accepted:
        """Submit once per idempotency key: the same key and request again gives the original
        task (created=False); the same key with another request is a `Conflict`."""
        return self._group.submit(req)

    async def accept_async(self, req: SubmitRequest) -> Accepted:
        """`accept` for the API's event loop: it waits for the shared write without a thread."""
        return await self._group.submit_async(req)

    def _accept_each(self, reqs: Sequence[SubmitRequest]) -> list[Accepted | Exception]:
        """Concurrent single submits (the group commit's batch): each checked on its own, the
        keyless ones stored in one transaction and published together."""
        outcomes: list[Accepted | Exception | None] = [None] * len(reqs)
        keyless: list[tuple[int, NewTask]] = []
        for i, req in enumerate(reqs):
            try:
                new = self.prepare(req)
                if req.idempotency_key is None:
                    keyless.append((i, new))
                else:
                    outcomes[i] = self._accept_keyed(req, new)
            except Exception as exc:  # the caller's own error, raised to it alone
                outcomes[i] = exc
        if keyless:
            records: Sequence[TaskRecord | Exception]
            try:
                records = self._store_and_publish([new for _, new in keyless])
            except Exception as exc:  # only theirs: the keyed ones were committed on their own
                records = [exc] * len(keyless)
            for (i, _), record in zip(keyless, records, strict=True):
                outcomes[i] = record if isinstance(record, Exception) else Accepted(record, True)
        return cast(list[Accepted | Exception], outcomes)  # every index was set

    def _accept_keyed(self, req: SubmitRequest, new: NewTask) -> Accepted:
        existing = self._same_request(req, new)
        if existing is not None:
            return Accepted(existing, created=False)
        try:
            return Accepted(self._store_and_publish([new])[0], created=True)
        except Conflict:
            existing = self._same_request(req, new)  # a concurrent submit won the race
            if existing is None:
                raise
            return Accepted(existing, created=False)

    def _same_request(self, req: SubmitRequest, new: NewTask) -> TaskRecord | None:
        """The task already accepted under this key, if the request is the same one."""
        assert req.idempotency_key is not None
        existing = self.store.find_by_idempotency_key(req.owner, req.idempotency_key)
        if existing is not None and existing.request_hash != new.request_hash:
            raise Conflict(f"idempotency key {req.idempotency_key!r} was used for another request")
        return existing

    def submit_many(self, reqs: Sequence[SubmitRequest]) -> list[TaskRecord]:
        """All or nothing: every request is checked before one row is written."""
        return self._store_and_publish([self.prepare(r) for r in reqs])

    def _store_and_publish(self, new: Sequence[NewTask]) -> list[TaskRecord]:
        records = self.store.create(new, published=self.publisher is not None)
        publish_committed(self.store, self.publisher, records, mark="stored")
        return records

    def replay(self, task_id: str, *, kwargs: dict[str, Any] | None = None) -> TaskRecord:
        """Run a dead, failed or cancelled task again as a new task linked to it."""
        return self._replay([self.get(task_id)], kwargs)[0]

    def replay_matching(
        self, flt: TaskFilter, *, limit: int, kwargs: dict[str, Any] | None = None
    ) -> list[TaskRecord]:
        """Replay up to `limit` tasks matching `flt` (dead ones unless it names statuses)."""
        if not flt.statuses:
            flt = replace(flt, statuses=(TaskStatus.DEAD,))
        originals = self.store.list_tasks(flt, limit=limit).items
        return self._replay(originals, kwargs)

    def _replay(
        self, originals: Sequence[TaskRecord], kwargs: dict[str, Any] | None
    ) -> list[TaskRecord]:
        not_replayable = [o.id for o in originals if o.status not in REPLAYABLE]
        if not_replayable:
            raise Conflict(
                f"only dead, failed or cancelled tasks can be replayed: "
                f"{', '.join(not_replayable[:5])}"
            )
        new = [
            replace(
                self.prepare(
                    SubmitRequest(
                        o.name,
                        kwargs if kwargs is not None else o.kwargs,
                        args=o.args,
                        queue=o.queue,
                        priority=o.priority,
                        max_attempts=o.max_attempts,
                        backoff_base=o.backoff_base,
                        backoff_cap=o.backoff_cap,
                        owner=o.owner,
                    )
                ),
                parent_id=o.id,
            )
            for o in originals
        ]
        return self._store_and_publish(new)

    def cancel(self, task_id: str, *, terminate: bool = False) -> TaskRecord:
        """Cancel an unfinished task; `Conflict` if it already finished."""
        record = self.get(task_id)
        before = self.store.cancel(task_id, "cancelled on request")
        if before is None:
            raise Conflict(f"task {task_id} already finished ({self.get(task_id).status})")
        if before is TaskStatus.STARTED and self.publisher is not None:
            self.publisher.revoke(task_id, terminate=terminate)
        return self.store.get(task_id) or record

    def get(self, task_id: str) -> TaskRecord:
        record = self.store.get(task_id)
        if record is None:
            raise NotFound(f"no task with id {task_id!r}")
        return record

    def list_tasks(self, flt: TaskFilter, *, limit: int, cursor: str | None = None) -> Page:
        return self.store.list_tasks(flt, limit=limit, cursor=cursor)

    def health(self) -> dict[str, Any]:
        """Readiness facts: the database answers; who leads the scheduler; what waits."""
        self.store.db.ping()
        unpublished, oldest = self.store.backlog()
        lease = LeaderLeases(self.store.db).state(SCHEDULER_ROLE)
        age = (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0
        return {
            "scheduler": {
                "leader": lease.holder if lease and lease.live else None,
                "epoch": lease.epoch if lease else 0,
            },
            "relay_backlog": unpublished,
            "oldest_queued_age_seconds": round(max(age, 0.0), 3),
        }

    def events(self, task_id: str, *, after: int = 0) -> list[EventRecord]:
        self.get(task_id)
        return self.store.events(task_id, after=after)
