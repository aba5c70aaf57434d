"""Exponential backoff with full jitter: the one retry delay policy."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """`delay(n)` is uniform in [0, min(cap, base * 2**(n-1))] seconds, for retry n >= 1.

    Full jitter spreads a herd of retries over the whole window instead of synchronizing it.
    """

    base: float = 1.0
    cap: float = 300.0

    def ceiling(self, retry: int) -> float:
        return float(min(self.cap, self.base * 2.0 ** max(retry - 1, 0)))

    def delay(self, retry: int) -> float:
        return random.uniform(0.0, self.ceiling(retry))
