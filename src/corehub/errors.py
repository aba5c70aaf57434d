"""The one error hierarchy: raised where a rule is broken, mapped once to HTTP and to CLI exits."""

from __future__ import annotations

from typing import Any


class CorehubError(Exception):
    """Base of every error corehub raises on purpose; `status` is its HTTP meaning."""

    status = 500
    title = "Internal error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class InvalidInput(CorehubError):
    status = 422
    title = "Invalid input"


class Unauthorized(CorehubError):
    """The request could not prove who sent it (a webhook's signature is missing or wrong)."""

    status = 401
    title = "Unauthorized"


class NotFound(CorehubError):
    status = 404
    title = "Not found"


class Conflict(CorehubError):
    status = 409
    title = "Conflict"


class PayloadTooLarge(CorehubError):
    status = 413
    title = "Payload too large"


class ConfigError(CorehubError):
    """Invalid configuration: `problems` holds one line per problem."""

    status = 500
    title = "Invalid configuration"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class Unavailable(CorehubError):
    status = 503
    title = "Service unavailable"
