"""Token buckets as plain arithmetic: rate strings in, "allowed?" and "when next?" out.

A bucket holds at most one second's worth of tokens (at least one), so a limit admits a small
burst after a quiet spell but holds its rate over any longer stretch. The store keeps the
buckets; this module only does the math, on times the caller takes from the database clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)?\s*([smhd])\s*$")


@dataclass(frozen=True, slots=True)
class Rate:
    """`count` tokens every `seconds`."""

    count: float
    seconds: float

    @property
    def per_second(self) -> float:
        return self.count / self.seconds

    @property
    def capacity(self) -> float:
        """Most tokens a bucket holds: one second's worth, at least one."""
        return max(1.0, self.per_second)

    def __str__(self) -> str:
        unit = next((u for u, s in UNITS.items() if s == self.seconds), None)
        return f"{self.count:g}/{unit}" if unit else f"{self.count:g}/{self.seconds:g}s"


def parse_rate(text: str) -> Rate:
    """`"10/s"`, `"100/m"`, `"1000/h"`, `"5/d"`, or with a period: `"3/10s"`.

    Raises ValueError naming the accepted forms.
    """
    match = _RATE.match(text)
    if match is None or float(match.group(1)) <= 0 or (match.group(2) and not float(match[2])):
        raise ValueError(f"invalid rate {text!r}: expected N/s, N/m, N/h, N/d or N/<k>s")
    count, periods, unit = match.groups()
    return Rate(float(count), float(periods or 1) * UNITS[unit])


@dataclass(frozen=True, slots=True)
class Bucket:
    tokens: float
    updated_at: datetime


def full(rate: Rate, now: datetime) -> Bucket:
    """A bucket never used before starts full."""
    return Bucket(rate.capacity, now)


def refill(bucket: Bucket, rate: Rate, now: datetime) -> Bucket:
    """The bucket as of `now`; a clock that went backwards adds nothing."""
    elapsed = max((now - bucket.updated_at).total_seconds(), 0.0)
    tokens = min(rate.capacity, bucket.tokens + elapsed * rate.per_second)
    return Bucket(tokens, max(now, bucket.updated_at))


def take(bucket: Bucket, rate: Rate, now: datetime) -> tuple[Bucket, bool]:
    """Take one token if there is one: (the bucket after, whether it was taken)."""
    current = refill(bucket, rate, now)
    if current.tokens >= 1.0:
        return Bucket(current.tokens - 1.0, current.updated_at), True
    return current, False


def next_token_at(bucket: Bucket, rate: Rate, now: datetime, behind: int = 0) -> datetime:
    """When a token is there for the waiter with `behind` others ahead of it in line, so
    waiters wake in turn instead of all at the same moment."""
    current = refill(bucket, rate, now)
    missing = 1.0 + behind - current.tokens
    if missing <= 0:
        return current.updated_at
    return current.updated_at + timedelta(seconds=missing / rate.per_second)
