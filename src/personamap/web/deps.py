"""Route dependencies, declared once as ``Annotated`` aliases so route signatures read as prose."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials

from personamap.web.auth import ApiKeys, api_key_header, bearer
from personamap.web.metrics import ServiceMetrics
from personamap.web.served import ServedCatalog
from personamap.web.service import CatalogService


def _service(request: Request) -> CatalogService:
    return cast(CatalogService, request.app.state.service)


def _metrics(request: Request) -> ServiceMetrics:
    return cast(ServiceMetrics, request.app.state.metrics)


def _api_keys(request: Request) -> ApiKeys:
    return cast(ApiKeys, request.app.state.api_keys)


Service = Annotated[CatalogService, Depends(_service)]
"""The worker's catalog service (database, registry, served catalog)."""
Metrics = Annotated[ServiceMetrics, Depends(_metrics)]
"""The worker's Prometheus metrics."""


def _served(service: Service) -> ServedCatalog:
    return service.require_catalog()


Served = Annotated[ServedCatalog, Depends(_served)]
"""The catalog to answer with, taken once per request (503 while none is loaded)."""


def require_api_key(
    keys: Annotated[ApiKeys, Depends(_api_keys)],
    api_key: Annotated[str | None, Security(api_key_header)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> None:
    """Refuse a request without an accepted key (when keys are configured)."""
    if api_key is None and credentials is not None:
        api_key = credentials.credentials
    keys.require(api_key)


Authorized = Depends(require_api_key)
"""A router-level dependency: the routes need an API key when keys are configured."""
