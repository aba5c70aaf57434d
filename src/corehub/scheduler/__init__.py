"""Time-driven work under one leader: rescue of lost attempts and the outbox relay."""

from corehub.scheduler.leader import SqlLeadership
from corehub.scheduler.loop import Leadership, Scheduler
from corehub.scheduler.relay import Relay

__all__ = ["Leadership", "Relay", "Scheduler", "SqlLeadership"]
