"""Policies for failing well: backoff, rate limits (token buckets) and circuit breakers."""

from corehub.resilience.backoff import Backoff
from corehub.resilience.breaker import Breaker, BreakerPolicy, BreakerState
from corehub.resilience.ratelimit import Rate, parse_rate

__all__ = ["Backoff", "Breaker", "BreakerPolicy", "BreakerState", "Rate", "parse_rate"]
