"""The web app factory: builds the FastAPI app from the settings; nothing happens at import.

Routes: ``POST /v1/assign``, ``GET /v1/personas``, ``GET /v1/personas/{id}``,
``GET /v1/customers/{id}/persona``, ``POST /predict`` (the reference project's endpoint),
``GET /healthz``, ``GET /readyz`` and ``GET /metrics``. ``/v1/*`` and ``/predict`` need an API key
when keys are configured; ``/metrics`` too with ``PERSONAMAP_SERVE_METRICS_PROTECTED``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from personamap import __version__
from personamap.adapters.database.engine import create_database_engine
from personamap.cli.wiring import registry
from personamap.config import Settings, get_settings
from personamap.dashboard.routes import install_dashboard
from personamap.web import problems
from personamap.web.auth import ApiKeys, require_keys_in_production
from personamap.web.deps import Authorized
from personamap.web.fastlane import FastLane
from personamap.web.metrics import MetricsMiddleware, Receive, Scope, Send, ServiceMetrics
from personamap.web.openapi import install_openapi
from personamap.web.routes import customers, health, personas
from personamap.web.routes.assignment import AssignmentEndpoints
from personamap.web.service import CatalogService

DESCRIPTION = """\
Assigns customers to the personas of the production catalog: the nearest persona, the distance to
it, the confidence, and whether the persona fits the customer well. Request schemas follow the
served catalog's feature spec. The served catalog follows the registry's `production` alias
without a restart.
"""


class ServiceApp(FastAPI):
    """The FastAPI app, with the hot endpoints answered before any of its layers (``web.fastlane``).

    Attributes:
        fast_lane: Answers ``POST /v1/assign`` and ``POST /predict`` (None: the framework does).
    """

    fast_lane: FastLane | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a request: the fast lane's paths directly, the rest through the framework."""
        lane = self.fast_lane
        if lane is not None and lane.handles(scope):
            await lane(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None) -> ServiceApp:
    """The web app for ``settings`` (default: from the environment).

    The catalog loads when the app starts (its lifespan), not here.

    Raises:
        ConfigError: production settings without API keys.
    """
    settings = settings or get_settings()
    require_keys_in_production(settings)
    metrics = ServiceMetrics()
    api_keys = ApiKeys(key.get_secret_value() for key in settings.api_keys)
    engine = create_database_engine(settings.database_url)
    service = CatalogService(
        settings, engine=engine, registry=lambda: registry(settings), metrics=metrics
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()
            metrics.flush()
            engine.dispose()

    app = ServiceApp(
        title="personamap",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=[
            {"name": "assignment", "description": "Assign customers to personas."},
            {"name": "personas", "description": "The served persona catalog."},
            {"name": "customers", "description": "Recorded assignments of known customers."},
            {"name": "operations", "description": "Health, readiness and metrics."},
        ],
    )
    app.state.service = service
    app.state.metrics = metrics
    app.state.api_keys = api_keys
    auth = [Authorized] if api_keys.enabled else []

    endpoints = AssignmentEndpoints(settings, service=service, metrics=metrics, api_keys=api_keys)
    app.include_router(personas.router, dependencies=auth)
    app.include_router(customers.router, dependencies=auth)
    app.include_router(health.router)
    app.include_router(
        health.metrics_router, dependencies=auth if settings.serve_metrics_protected else []
    )
    install_dashboard(app, settings, service)  # the persona dashboard, from /
    app.add_middleware(MetricsMiddleware, metrics=metrics, routes=app.router.routes)
    handlers = {"/v1/assign": endpoints.assign, "/predict": endpoints.predict}
    app.fast_lane = FastLane(handlers=handlers, metrics=metrics)
    problems.install(app)
    install_openapi(app, service, max_batch=settings.serve_max_batch, auth=api_keys.enabled)
    return app
