"""The catalog versions the dashboard shows, with the names people gave their personas.

A registered catalog version never changes, so each is loaded from the registry once and kept;
names can change at any time, so they are read from the database on every use (one small,
keyed query). In the web app the production catalog is the one the service already serves.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from personamap.adapters.database import catalog_records
from personamap.domain.catalog import CANDIDATE, PRODUCTION, PersonaCatalog
from personamap.services.catalog import open_registry

if TYPE_CHECKING:  # MLflow is heavy to import; whoever builds the source brings the registry
    from personamap.adapters.registry import Registry
    from personamap.adapters.registry.mlflow_registry import CatalogVersion

Versioned = tuple[int, PersonaCatalog]
ProductionLookup = Callable[[], Versioned | None]
KEPT_VERSIONS = 16


class CatalogSource:
    """Catalog versions by number or alias, renamed as recorded in the database.

    Args:
        engine: The database holding the personas' names.
        registry: Makes the client of the registry holding the catalog versions (on first use).
        production: Where the production catalog comes from (default: the registry's alias);
            the web app passes the catalog its service serves.
        absent: Why there is no production catalog, for the empty state (default: none promoted).
    """

    def __init__(
        self,
        *,
        engine: Engine,
        registry: Callable[[], Registry],
        model_name: str,
        production: ProductionLookup | None = None,
        absent: Callable[[], str] | None = None,
    ) -> None:
        self.engine = engine
        self.model_name = model_name
        self._make_registry = registry
        self._registry: Registry | None = None
        self._production = production
        self._absent = absent
        self._loaded: OrderedDict[int, PersonaCatalog] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def registry(self) -> Registry:
        """The registry client (made on first use; MLflow is slow to import)."""
        with self._lock:
            if self._registry is None:
                self._registry = open_registry(self._make_registry)
            return self._registry

    def production(self) -> Versioned | None:
        """The production catalog, or None before the first promotion."""
        found = self._production() if self._production else self.alias(PRODUCTION)
        if found is None:
            return None
        version, catalog = found
        return version, self._named(version, catalog)

    def absent(self) -> str:
        """Why there is no production catalog."""
        if self._absent is not None:
            return self._absent()
        return f"no catalog version of {self.model_name!r} is promoted to production yet"

    def candidate(self) -> Versioned | None:
        """The candidate awaiting approval, or None."""
        return self.alias(CANDIDATE)

    def alias(self, alias: str) -> Versioned | None:
        """The catalog an alias points at, or None."""
        version = self.registry.version_for(alias)
        return None if version is None else (version, self.version(version))

    def version(self, version: int) -> PersonaCatalog:
        """A catalog version (loaded from the registry once)."""
        with self._lock:
            catalog = self._loaded.get(version)
        if catalog is None:
            _, catalog = self.registry.load(version)
            with self._lock:
                self._loaded[version] = catalog
                while len(self._loaded) > KEPT_VERSIONS:
                    self._loaded.popitem(last=False)
        return self._named(version, catalog)

    def versions(self) -> list[CatalogVersion]:
        """Every registered version, newest first."""
        return self.registry.versions()

    def _named(self, version: int, catalog: PersonaCatalog) -> PersonaCatalog:
        with Session(self.engine) as session:
            recorded = catalog_records.persona_records(
                session, model_name=self.model_name, version=version
            )
            current = {p.persona_id: p.name for p in catalog.personas}
            names = {
                r.persona_id: r.name
                for r in recorded
                if r.persona_id in current and r.name != current[r.persona_id]
            }
        return catalog.with_names(names) if names else catalog
