"""The dashboard's routes: pages rendered on the server, forms posted back, assets served locally.

Pages read the database and the registry, so their routes are plain functions FastAPI runs in
worker threads. A page never answers with a traceback or JSON: a missing catalog or missing data
is an empty state, and a failure (database down, unknown persona) a short page saying so.
Changes (rename, promote, refresh counts) are posted forms that need an admin key; a success
redirects back to the page (post/redirect/get) and tells the service to pick the change up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, Any, cast
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, FastAPI, Request
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from personamap import __version__
from personamap.cli.wiring import registry
from personamap.config import Settings
from personamap.dashboard.catalogs import CatalogSource, Versioned
from personamap.dashboard.pages import Dashboard, Page
from personamap.dashboard.templating import asset_path, pages
from personamap.errors import (
    AuthenticationError,
    CatalogError,
    MalformedRequestError,
    NotFoundError,
    PersonamapError,
)
from personamap.web.problems import status_of
from personamap.web.service import CatalogService

logger = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
MAX_FORM_BYTES = 64 * 1024
DONE = {
    "renamed": "The persona was renamed; the audit trail records it.",
    "promoted": "The candidate is now in production; the audit trail records it.",
    "refreshed": "The counts were refreshed.",
}


def _dashboard(request: Request) -> Dashboard:
    return cast(Dashboard, request.app.state.dashboard)


Board = Annotated[Dashboard, Depends(_dashboard)]
"""The app's dashboard."""


def install_dashboard(app: FastAPI, settings: Settings, service: CatalogService) -> None:
    """Serve the dashboard from ``app``, showing the catalog ``service`` serves."""

    def production() -> Versioned | None:
        served = service.served  # taken once: version and catalog belong together
        return None if served is None else (served.version, served.catalog)

    catalogs = CatalogSource(
        engine=service.engine,
        registry=lambda: registry(settings),
        model_name=settings.model_name,
        production=production,
        absent=lambda: service.problem or "no catalog is loaded",
    )
    app.state.dashboard = Dashboard(
        settings, engine=service.engine, catalogs=catalogs, on_change=service.refresh
    )
    app.include_router(router)


# -- rendering ----------------------------------------------------------------------------------


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/") + "/"


def _render(
    request: Request, dashboard: Dashboard, page: Page, nav: str, notice: str | None = None
) -> HTMLResponse:
    context: dict[str, Any] = {
        "root": _root(request),
        "nav": nav,
        "notice": notice,
        "model_name": dashboard.model_name,
        "app_version": __version__,
        "admin_enabled": dashboard.admin.enabled,
        "version": None,
        **page.context,
    }
    html = pages().get_template(page.template).render(context)
    return HTMLResponse(html, status_code=page.status)


def _problem(exc: Exception) -> Page:
    if isinstance(exc, NotFoundError):
        return Page("problem.html.j2", {"heading": "Not found", "message": str(exc)}, 404)
    if isinstance(exc, PersonamapError):
        status = status_of(exc)
        logger.warning("dashboard: %s", exc)
        return Page("problem.html.j2", {"heading": "Not available", "message": str(exc)}, status)
    if isinstance(exc, SQLAlchemyError):
        logger.warning("dashboard: the database failed: %s", exc)
        message = "The database cannot be reached or failed to answer; try again shortly."
        return Page("problem.html.j2", {"heading": "Not available", "message": message}, 503)
    logger.error("dashboard: building a page failed", exc_info=exc)
    message = "Something went wrong building this page; the service logged it."
    return Page("problem.html.j2", {"heading": "Something went wrong", "message": message}, 500)


def _build(build: Callable[[], Page]) -> Page:
    try:
        return build()
    except Exception as exc:  # any failure is a short page, never a traceback
        return _problem(exc)


def _show(
    request: Request,
    dashboard: Dashboard,
    build: Callable[[], Page],
    nav: str,
    *,
    notice: str | None = None,
    extra: dict[str, Any] | None = None,
    status: int | None = None,
) -> HTMLResponse:
    page = _build(build)
    if page.template != "problem.html.j2":
        page = Page(page.template, {**page.context, **(extra or {})}, status or page.status)
    return _render(request, dashboard, page, nav, notice)


async def _form(request: Request) -> dict[str, str]:
    """A posted URL-encoded form (what a browser sends for these forms)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise MalformedRequestError(f"the form has {len(body):,} bytes; at most {MAX_FORM_BYTES:,}")
    return dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))


def _redirect(request: Request, path: str) -> RedirectResponse:
    return RedirectResponse(_root(request) + path, status_code=303)


def _refused(exc: PersonamapError) -> int:
    return 401 if isinstance(exc, AuthenticationError) else 422


def _persona_id(text: str) -> int:
    if not text.isdigit():
        raise NotFoundError(f"{text!r} is not a persona id (a whole number)")
    return int(text)


# -- pages --------------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, dashboard: Board, done: str = "") -> HTMLResponse:
    """The personas: cards with shares, top traits and trends."""
    return _show(request, dashboard, dashboard.overview, "overview", notice=DONE.get(done))


@router.get("/personas/{persona_id}", response_class=HTMLResponse)
def persona(request: Request, dashboard: Board, persona_id: str, done: str = "") -> HTMLResponse:
    """One persona: profile, typical ranges, example customers."""
    return _show(
        request,
        dashboard,
        lambda: dashboard.persona(_persona_id(persona_id)),
        "overview",
        notice=DONE.get(done),
    )


@router.get("/map", response_class=HTMLResponse)
def persona_map(request: Request, dashboard: Board) -> HTMLResponse:
    """A sample of customers in two dimensions, coloured by persona."""
    return _show(request, dashboard, dashboard.map, "map")


@router.get("/monitoring", response_class=HTMLResponse)
def monitoring(request: Request, dashboard: Board) -> HTMLResponse:
    """Drift over time, drifted features, persona mix, monitoring reports."""
    return _show(request, dashboard, dashboard.monitoring, "monitoring")


@router.get("/monitoring/reports/{name}", response_model=None)
def monitoring_report(request: Request, dashboard: Board, name: str) -> Response:
    """A monitoring run's HTML report (only files of the reports folder)."""
    try:
        path = dashboard.report_file(name)
    except NotFoundError as exc:
        return _render(request, dashboard, _problem(exc), "monitoring")
    return FileResponse(path, media_type="text/html; charset=utf-8")


@router.get("/history", response_class=HTMLResponse)
def history(request: Request, dashboard: Board, done: str = "") -> HTMLResponse:
    """Catalog versions, candidate against production, the audit trail."""
    return _show(request, dashboard, dashboard.history, "history", notice=DONE.get(done))


@router.get("/assign", response_class=HTMLResponse)
def assign_form(request: Request, dashboard: Board, typical_of: str = "") -> HTMLResponse:
    """The assign form, filled with a typical customer."""
    chosen = int(typical_of) if typical_of.isdigit() else None
    return _show(request, dashboard, lambda: dashboard.assign_form(typical_of=chosen), "assign")


@router.post("/assign", response_class=HTMLResponse)
async def assign(request: Request, dashboard: Board) -> HTMLResponse:
    """Assign the customer entered in the form."""
    values = await _form(request)
    return await run_in_threadpool(
        _show, request, dashboard, lambda: dashboard.assign(values), "assign"
    )


# -- changes (admin key) ------------------------------------------------------------------------


@router.post("/personas/{persona_id}/name", response_model=None)
async def rename(request: Request, dashboard: Board, persona_id: str) -> Response:
    """Rename a persona of the production catalog."""
    form = await _form(request)
    try:
        number = _persona_id(persona_id)
        await run_in_threadpool(
            dashboard.rename,
            number,
            form.get("name", ""),
            key=form.get("admin_key"),
            reason=form.get("reason", ""),
        )
    except (AuthenticationError, CatalogError, NotFoundError) as exc:
        return await run_in_threadpool(
            _show,
            request,
            dashboard,
            lambda: dashboard.persona(_persona_id(persona_id)),
            "overview",
            extra={
                "rename_error": str(exc),
                "new_name": form.get("name", ""),
                "reason": form.get("reason", ""),
            },
            status=_refused(exc),
        )
    await dashboard.changed()
    return _redirect(request, f"personas/{number}?done=renamed")


@router.post("/history/promote", response_model=None)
async def promote(request: Request, dashboard: Board) -> Response:
    """Promote the candidate to production."""
    form = await _form(request)
    version = form.get("version", "")
    try:
        if not version.isdigit():
            raise CatalogError(f"{version!r} is not a catalog version")
        await run_in_threadpool(
            lambda: dashboard.promote_candidate(
                int(version),
                key=form.get("admin_key"),
                reason=form.get("reason", ""),
                force=form.get("force") == "yes",
            )
        )
    except (AuthenticationError, CatalogError) as exc:
        problem, status = str(exc), _refused(exc)
        return await run_in_threadpool(
            _show,
            request,
            dashboard,
            lambda: dashboard.history(errors={"promote": problem}),
            "history",
            status=status,
        )
    await dashboard.changed()
    return _redirect(request, "history?done=promoted")


@router.post("/counts/refresh", response_model=None)
async def refresh_counts(request: Request, dashboard: Board) -> Response:
    """Recount the customers per cohort and persona of the production catalog."""
    form = await _form(request)
    try:
        await run_in_threadpool(lambda: dashboard.refresh_counts(key=form.get("admin_key")))
    except (AuthenticationError, CatalogError) as exc:
        return await run_in_threadpool(
            _show,
            request,
            dashboard,
            dashboard.overview,
            "overview",
            extra={"refresh_error": str(exc)},
            status=_refused(exc),
        )
    return _redirect(request, "?done=refreshed")


# -- assets -------------------------------------------------------------------------------------


@router.get("/assets/{name}", response_model=None)
def asset(name: str) -> Response:
    """The stylesheet, the chart script and plotly.js, served from the installed packages."""
    path = asset_path(name)
    if path is None or not path.is_file():
        return Response(f"no asset {name!r}", status_code=404, media_type="text/plain")
    return FileResponse(path, headers={"Cache-Control": "public, max-age=3600"})
