from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from corehub import __version__
from corehub.api.deps import Service
from corehub.schemas import Ping

router = APIRouter(tags=["system"])


@router.get("/ping")
def ping() -> Ping:
    """Liveness: the API process answers."""
    return Ping(version=__version__)


@router.get("/health")
def health(service: Service) -> JSONResponse:
    """Readiness: the database answers (503 when it does not)."""
    checks: dict[str, Any] = {}
    try:
        service.store.db.ping()
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    body = {"status": "ok" if ok else "degraded", "version": __version__, "checks": checks}
    return JSONResponse(body, status_code=200 if ok else 503)
