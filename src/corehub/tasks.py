"""What task code may use: exceptions that ask for a retry.

Raise `Retry(after=seconds)` to try again later (an attempt is spent; the wait happens in
SQL, not in the broker). Raise a `TransientError` (or an exception listed in the task's
`retry_on`) to retry with the task's backoff. Any other exception fails the task at once.
"""

from __future__ import annotations


class TransientError(Exception):
    """A failure worth retrying: a timeout, a 503, a lock held elsewhere."""


class Retry(TransientError):
    """Retry this task after `after` seconds (the task's backoff when None)."""

    def __init__(self, after: float | None = None, reason: str = "retry requested") -> None:
        super().__init__(reason)
        self.after = after


__all__ = ["Retry", "TransientError"]
