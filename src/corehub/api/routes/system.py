from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from corehub import __version__
from corehub.api.deps import Service
from corehub.schemas import Ping

router = APIRouter(tags=["system"])


@router.get("/ping")
async def ping() -> Ping:
    """Liveness: the API process answers. A coroutine: a plain `def` would run in FastAPI's
    thread pool, and that hop cost more CPU than the rest of the request."""
    return Ping(version=__version__)


@router.get("/health")
def health(service: Service) -> JSONResponse:
    """Readiness: the database answers (503 when it does not); the scheduler's leader, the
    relay backlog and the age of the oldest queued task."""
    try:
        facts = service.health()
    except Exception as exc:
        body = {
            "status": "unavailable",
            "version": __version__,
            "checks": {"database": f"error: {type(exc).__name__}"},
        }
        return JSONResponse(body, status_code=503)
    body = {"status": "ok", "version": __version__, "checks": {"database": "ok"}, **facts}
    return JSONResponse(body)
