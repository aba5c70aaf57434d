"""The HTTP API (FastAPI): translates requests to service calls and results to responses."""

from corehub.api.app import create_app

__all__ = ["create_app"]
