"""Policies for failing well: backoff now; rate limits and circuit breakers as they land."""

from corehub.resilience.backoff import Backoff

__all__ = ["Backoff"]
