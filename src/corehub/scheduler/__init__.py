"""Time-driven work: the outbox relay now; releases, schedules and rescue build on the loop."""

from corehub.scheduler.loop import AlwaysLeader, Leadership, Scheduler
from corehub.scheduler.relay import Relay

__all__ = ["AlwaysLeader", "Leadership", "Relay", "Scheduler"]
