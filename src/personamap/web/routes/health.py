"""``GET /healthz``, ``GET /readyz`` and ``GET /metrics``: for orchestrators and Prometheus."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from personamap.web.deps import Metrics, Service
from personamap.web.metrics import CONTENT_TYPE
from personamap.web.schemas import Health, Readiness, ServedCatalogStatus

router = APIRouter(tags=["operations"])
metrics_router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health, summary="The process is alive")
async def healthz() -> Health:
    """Answers as long as the worker's event loop runs; checks nothing else."""
    return Health()


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready: see details."}},
    summary="Whether this worker can assign customers",
)
async def readyz(service: Service, response: Response) -> Readiness:
    """Ready when a catalog is loaded and the database answers; details say what is degraded."""
    state = await service.readiness()
    served = state.served
    response.status_code = 200 if state.ready else 503
    return Readiness(
        ready=state.ready,
        catalog=None
        if served is None
        else ServedCatalogStatus(
            version=served.version,
            source=served.source,
            loaded_at=served.loaded_at,
            personas=len(served.catalog.personas),
        ),
        database=state.database,
        registry=state.registry,
        details=state.details,
    )


@metrics_router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text exposition format.",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
    summary="Prometheus metrics of all workers",
)
async def metrics(metrics: Metrics) -> Response:
    """Requests and latency per route, assignments per persona, poor fits, the served version."""
    return Response(metrics.render(), media_type=CONTENT_TYPE)
