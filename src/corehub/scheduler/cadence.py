"""A check on its own clock, slower than the scheduler's tick."""

from __future__ import annotations

import time
from collections.abc import Callable


class Every:
    """Whether something looked at every `seconds` is due: the first time at once, then once
    per `seconds`, or at the next call after `again()`."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self._next = clock()

    def due(self) -> bool:
        now = self.clock()
        if now < self._next:
            return False
        # From the last due time, not from now: a check made late in one tick (after the
        # tick's other work) must not push the next one a whole tick later.
        self._next += self.seconds
        if self._next <= now:  # fell behind (a long tick, a pause): a period from now
            self._next = now + self.seconds
        return True

    def restart(self) -> None:
        """Count the next `seconds` from now."""
        self._next = self.clock() + self.seconds

    def again(self) -> None:
        """Due at the next call."""
        self._next = self.clock()
