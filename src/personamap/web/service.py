"""What a worker serves, and how it stays current: load, cache, watch the alias, swap.

At start the worker loads the catalog the registry's ``production`` alias points at (with the
personas' current names from the database) and caches it on local disk. If the registry cannot be
reached, it starts from that cache and says so. A background task checks the alias every
``serve_reload_interval_seconds``: when it moved, the new catalog is loaded and prepared off the
request path, then swapped in by replacing one reference; renamed personas are picked up the same
way. Registry and database calls block, so they run in threads and never stall requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from personamap.adapters.database import catalog_records
from personamap.adapters.database.engine import current_revision, head_revision, upgrade
from personamap.adapters.registry import Registry
from personamap.adapters.registry.mlflow_registry import PRODUCTION
from personamap.config import Settings, mask_url
from personamap.domain.spec import load_spec
from personamap.errors import DatabaseError, PersonamapError, ServiceUnavailableError
from personamap.services.catalog import CatalogContext, effective_catalog, open_registry
from personamap.web.assignment_records import check_database
from personamap.web.cache import CatalogCache
from personamap.web.metrics import ServiceMetrics
from personamap.web.served import ServedCatalog

logger = logging.getLogger(__name__)
START_TIMEOUT_SECONDS = 20.0
HEALTH_CHECK_TIMEOUT_SECONDS = 3.0


@dataclass(frozen=True)
class Readiness:
    """Whether the worker can answer assignments, and what is wrong or degraded."""

    ready: bool
    served: ServedCatalog | None
    database: bool
    registry: bool
    details: list[str]


class CatalogService:
    """The catalog one worker serves, kept current with the registry.

    Args:
        settings: The service's settings.
        engine: The database (names of personas, health, recorded assignments).
        registry: Makes the client of the model registry holding the catalog versions; called
            on first use, in a thread, and again after a failure (a store being created by
            another worker, a server not up yet).
        metrics: Where the served version is published.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        engine: Engine,
        registry: Callable[[], Registry],
        metrics: ServiceMetrics,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self._make_registry = registry
        self._registry: Registry | None = None
        self.metrics = metrics
        self.cache = CatalogCache(settings.home / "cache", settings.model_name)
        self.served: ServedCatalog | None = None
        self.problem = "the catalog is still loading"
        self.registry_problem: str | None = None
        self.load_problem: str | None = None
        self._refreshing = asyncio.Lock()
        self.migration_problem: str | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # -- the request side --------------------------------------------------------------------

    def require_catalog(self) -> ServedCatalog:
        """The catalog to answer with (take it once per request).

        Raises:
            ServiceUnavailableError: no catalog is loaded, with the reason.
        """
        served = self.served
        if served is None:
            raise ServiceUnavailableError(f"no persona catalog is loaded: {self.problem}")
        return served

    async def readiness(self) -> Readiness:
        """Catalog loaded and database answering, with details of anything wrong."""
        served = self.served
        details = []
        if served is None:
            details.append(f"no persona catalog is loaded: {self.problem}")
        elif served.source == "cache":
            details.append(
                f"serving catalog version {served.version} from the local cache "
                f"{self.cache.path}: the model registry could not be reached at start"
            )
        details += [p for p in (self.registry_problem, self.load_problem) if p]
        database = await self._database_answers(details)
        return Readiness(
            ready=served is not None and database,
            served=served,
            database=database,
            registry=self.registry_problem is None,
            details=details,
        )

    async def _database_answers(self, details: list[str]) -> bool:
        try:
            await asyncio.wait_for(
                asyncio.to_thread(check_database, self.engine), HEALTH_CHECK_TIMEOUT_SECONDS
            )
        except TimeoutError:
            details.append(
                f"the database at {mask_url(str(self.engine.url))} did not answer within "
                f"{HEALTH_CHECK_TIMEOUT_SECONDS:g} s"
            )
            return False
        except DatabaseError as exc:
            details.append(str(exc))
            return False
        if self.migration_problem:
            details.append(self.migration_problem)
            return False
        return True

    # -- life cycle ----------------------------------------------------------------------------

    async def start(self, *, timeout: float = START_TIMEOUT_SECONDS) -> None:
        """Load the catalog (waiting up to ``timeout``), then watch the alias in the background."""
        first = asyncio.create_task(self._first_load())
        self._tasks = [first, asyncio.create_task(self._watch(first))]
        try:
            await asyncio.wait_for(asyncio.shield(first), timeout)
        except TimeoutError:
            logger.warning(
                "the catalog is still loading after %g s; assignments answer 503 until it is",
                timeout,
            )

    async def stop(self) -> None:
        """Stop watching (a load running in a thread finishes on its own)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _first_load(self) -> None:
        await asyncio.to_thread(self._prepare_database)
        await self.refresh()

    async def _watch(self, first: asyncio.Task[None]) -> None:
        with contextlib.suppress(Exception):  # the first load logs its own failures
            await first
        while True:
            await asyncio.sleep(self.settings.serve_reload_interval_seconds)
            await self.refresh()

    async def refresh(self) -> None:
        """Check the production alias once; load and swap in its catalog when it moved.

        Never raises: a failure is logged and shown by ``/readyz``; the served catalog stays.
        """
        async with self._refreshing:  # the watcher and a caller (the dashboard) take turns
            try:
                await self._refresh()
            except (PersonamapError, SQLAlchemyError, OSError) as exc:
                # The registry or database failed mid-load: keep what is served, else the cache.
                self.load_problem = f"loading the production catalog failed: {exc}"
                logger.warning("%s", self.load_problem)
                if self.served is None:
                    await self._start_from_cache(self.load_problem)
            except Exception:
                logger.exception("checking the production catalog failed unexpectedly")

    async def _refresh(self) -> None:
        try:
            version = await asyncio.to_thread(self._production_version)
        except PersonamapError as exc:
            self.registry_problem = f"the model registry cannot be reached: {exc}"
            logger.warning("%s", self.registry_problem)
            if self.served is None:
                await self._start_from_cache(self.registry_problem)
            return
        self.registry_problem = None
        current = self.served
        if version is None:
            if current is None:
                self.problem = (
                    f"no catalog version of {self.settings.model_name!r} is promoted to "
                    "production yet: import or discover one, then `personamap catalog promote`"
                )
            return
        if current is None or current.version != version or current.source == "cache":
            self._swap(await asyncio.to_thread(self._load, version))
            self.load_problem = None
            return
        try:
            recorded = await asyncio.to_thread(self._recorded_names, version)
        except SQLAlchemyError as exc:  # names stay as they are; /readyz shows the database
            logger.warning("cannot read the personas' current names: %s", exc)
            return
        served_names = current.persona_names
        names = {i: n for i, n in recorded.items() if served_names.get(i, n) != n}
        if names:
            self._swap(await asyncio.to_thread(current.renamed, names))

    async def _start_from_cache(self, reason: str) -> None:
        served = await asyncio.to_thread(self._cached)
        if served is None:
            self.problem = (
                f"{reason}; and there is no local cache of a catalog at {self.cache.path}"
            )
            logger.error("%s", self.problem)
            return
        self._swap(served)

    # -- blocking work (in threads) ----------------------------------------------------------

    def _prepare_database(self) -> None:
        """Bring an embedded database to the current migration; note a server database behind."""
        try:
            current, head = current_revision(self.engine), head_revision(self.engine)
            if current != head:
                if not self.settings.auto_upgrade:
                    self.migration_problem = (
                        f"the database is at migration {current or 'none'}, this personamap "
                        f"needs {head}: run `personamap db upgrade`"
                    )
                    return
                upgrade(self.engine)
            self.migration_problem = None
        except DatabaseError as exc:
            logger.warning("the database is not ready: %s", exc)

    def _client(self) -> Registry:
        if self._registry is None:
            self._registry = open_registry(self._make_registry)
        return self._registry

    def _production_version(self) -> int | None:
        return self._client().version_for(PRODUCTION)

    def _context(self) -> CatalogContext:
        catalog_spec = self.served.catalog.spec if self.served else None
        return CatalogContext(
            engine=self.engine,
            registry=self._client(),
            spec=catalog_spec or load_spec(self.settings.spec),
            cohort_timezone=self.settings.cohort_timezone,
        )

    def _load(self, version: int) -> ServedCatalog:
        loaded, catalog = effective_catalog(self._context(), version)
        served = ServedCatalog.build(
            loaded, catalog, source="registry", max_batch=self.settings.serve_max_batch
        )
        self.cache.save(loaded, catalog)
        return served

    def _recorded_names(self, version: int) -> dict[int, str]:
        with Session(self.engine) as session:
            found = catalog_records.persona_records(
                session, model_name=self.settings.model_name, version=version
            )
            return {int(r.persona_id): r.name for r in found}

    def _cached(self) -> ServedCatalog | None:
        cached = self.cache.load()
        if cached is None:
            return None
        logger.warning(
            "serving catalog version %d from the local cache %s (saved %s)",
            cached.version,
            self.cache.path,
            cached.saved_at.isoformat(timespec="seconds"),
        )
        return ServedCatalog.build(
            cached.version, cached.catalog, source="cache", max_batch=self.settings.serve_max_batch
        )

    def _swap(self, served: ServedCatalog) -> None:
        previous = self.served
        self.served = served  # the one reference requests read: the swap is atomic
        self.problem = ""
        self.metrics.serving(served.version, served.source)
        if previous is None or previous.version != served.version:
            logger.info(
                "now serving catalog version %d from the %s%s",
                served.version,
                served.source,
                "" if previous is None else f" (was version {previous.version})",
            )
        else:
            logger.info("catalog version %d: personas renamed", served.version)
