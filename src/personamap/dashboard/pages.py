"""The dashboard's pages and actions: read what a page needs, shape it, or change the catalog.

Every method blocks (database and registry calls): the routes run them in worker threads. A
page without a catalog or without data returns an :class:`Empty` state saying what to do next;
admin actions check the admin key, then go through the same services as the CLI, so they land
in the same audit trail.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from personamap.adapters.database import catalog_records
from personamap.adapters.database.persona_counts import (
    read_persona_counts,
    refresh_persona_counts,
)
from personamap.config import Settings
from personamap.dashboard import queries, views
from personamap.dashboard.catalogs import CatalogSource, Versioned
from personamap.dashboard.sample import SampleCache
from personamap.domain.catalog import PersonaCatalog
from personamap.domain.spec import load_spec
from personamap.errors import AuthenticationError, CatalogError, NotFoundError
from personamap.services import catalog as catalog_service
from personamap.web.auth import ApiKeys

ACTOR = "dashboard"
"""Who the audit trail names for changes made through the dashboard."""
EXAMPLES = 5


@dataclass(frozen=True)
class Empty:
    """What a page shows instead of data: what is missing and how to get there."""

    title: str
    text: str
    steps: tuple[str, ...] = ()


def no_catalog(reason: str) -> Empty:
    """The empty state before any catalog is in production."""
    return Empty(
        title="No persona catalog in production yet",
        text=f"There is nothing to show until a persona catalog is promoted ({reason}).",
        steps=(
            "load customers: personamap ingest customers.csv (or personamap demo)",
            "find personas: personamap catalog train --cohort 2025-01, or import a "
            "vendor's: personamap catalog import centroids.csv",
            "approve them: personamap catalog promote --reason '...'",
        ),
    )


NO_COUNTS = Empty(
    title="No assigned customers counted yet",
    text="Shares and trends appear once customers are assigned under the production catalog "
    "and the counts are refreshed.",
    steps=(
        "assign customers: personamap assign --unassigned (the pipeline does it every month)",
        "refresh the counts: the 'refresh counts' button below (admin key)",
    ),
)
NO_CUSTOMERS = Empty(
    title="No customers yet",
    text="The customer table is empty, so there is nobody to place on the map.",
    steps=("load customers: personamap ingest customers.csv (or personamap demo)",),
)
NO_RUNS = Empty(
    title="No monitoring runs yet",
    text="Cohorts are checked for drift against the reference cohort by the monthly pipeline "
    "or by hand.",
    steps=("check a cohort: personamap monitor --reference 2025-01 --current latest",),
)


@dataclass(frozen=True)
class Page:
    """A page's template and what it shows."""

    template: str
    context: dict[str, Any] = field(default_factory=dict)
    status: int = 200


class AdminKeys:
    """The keys that may rename personas, promote candidates and refresh counts.

    Args:
        hashes: Hashes ``sha256:<hex>`` (``PERSONAMAP_ADMIN_API_KEYS``); none: actions are off.
    """

    def __init__(self, hashes: list[str]) -> None:
        self._keys = ApiKeys(hashes)

    @property
    def enabled(self) -> bool:
        """Whether any admin key is configured."""
        return self._keys.enabled

    def require(self, key: str | None) -> None:
        """Raise unless ``key`` is an admin key.

        Raises:
            AuthenticationError: no admin keys configured, no key given, or an unknown one.
        """
        if not self.enabled:
            raise AuthenticationError(
                "changes through the dashboard are off: make a key with `personamap api-key` "
                "and set PERSONAMAP_ADMIN_API_KEYS='[\"sha256:...\"]'"
            )
        if not self._keys.accepts(key):
            raise AuthenticationError(
                "this needs an admin key: the one given is not an admin key"
                if key
                else "this needs an admin key: enter it in the form"
            )


class Dashboard:
    """Builds the dashboard's pages and carries out its actions.

    Args:
        settings: Home folder (reports), model name, cohort time zone, admin keys.
        engine: The database.
        catalogs: The catalog versions to show.
        samples: Customer samples for the map and the typical ranges.
        on_change: Awaited after a change (the web app reloads the served catalog at once).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        engine: Engine,
        catalogs: CatalogSource,
        samples: SampleCache | None = None,
        on_change: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.settings = settings
        self._on_change = on_change
        self.engine = engine
        self.catalogs = catalogs
        self.samples = samples or SampleCache(engine)
        self.admin = AdminKeys([key.get_secret_value() for key in settings.admin_api_keys])
        self.reports_dir = settings.home / "reports"

    @property
    def model_name(self) -> str:
        """The registered model the dashboard shows."""
        return self.catalogs.model_name

    async def changed(self) -> None:
        """Let the app know the catalog changed (a rename or a promotion)."""
        if self._on_change is not None:
            await self._on_change()

    # -- pages ----------------------------------------------------------------------------

    def overview(self) -> Page:
        """Persona cards with current shares, top traits and trends."""
        found = self.catalogs.production()
        if found is None:
            return Page("overview.html.j2", {"empty": no_catalog(self.catalogs.absent())})
        version, catalog = found
        counts = read_persona_counts(self.engine, model_name=self.model_name, version=version)
        view = views.overview(version, catalog, counts)
        return Page(
            "overview.html.j2",
            {"view": view, "version": version, "no_counts": NO_COUNTS if counts.empty else None},
        )

    def persona(self, persona_id: int) -> Page:
        """One persona: profile, typical ranges, example customers, rename form."""
        found = self.catalogs.production()
        if found is None:
            return Page("persona.html.j2", {"empty": no_catalog(self.catalogs.absent())})
        version, catalog = found
        known = [p.persona_id for p in catalog.personas]
        if persona_id not in known:
            raise NotFoundError(
                f"catalog version {version} has no persona {persona_id}; its personas are "
                f"{', '.join(str(i) for i in known)}"
            )
        view = views.persona_page(
            version,
            catalog,
            persona_id,
            counts=read_persona_counts(self.engine, model_name=self.model_name, version=version),
            sample=self.samples.get(version, catalog),
            closest=queries.closest_customers(
                self.engine,
                spec=catalog.spec,
                model_name=self.model_name,
                version=version,
                persona_id=persona_id,
                limit=EXAMPLES,
            ),
        )
        return Page("persona.html.j2", {"view": view, "version": version, "spec": catalog.spec})

    def map(self) -> Page:
        """A sample of customers on two principal components, coloured by persona."""
        found = self.catalogs.production()
        if found is None:
            return Page("map.html.j2", {"empty": no_catalog(self.catalogs.absent())})
        version, catalog = found
        view = views.map_page(version, catalog, self.samples.get(version, catalog))
        return Page(
            "map.html.j2",
            {
                "view": view,
                "version": version,
                "no_customers": None if view.figure else NO_CUSTOMERS,
            },
        )

    def monitoring(self) -> Page:
        """Drift verdicts per cohort, drifted features, persona mix, links to the reports."""
        runs = queries.monitoring_runs(self.engine, model_name=self.model_name)
        found = self.catalogs.production()
        counts = None
        if found is not None:
            counts = read_persona_counts(self.engine, model_name=self.model_name, version=found[0])
        latest_ids = list({r.current_cohort: r.id for r in reversed(runs)}.values())
        view = views.monitoring_page(
            runs,
            queries.feature_metrics(self.engine, run_ids=latest_ids),
            counts=counts,
            catalog=found[1] if found else None,
            reports_dir=self.reports_dir,
        )
        return Page(
            "monitoring.html.j2",
            {
                "view": view,
                "version": found[0] if found else None,
                "no_runs": None if runs else NO_RUNS,
            },
        )

    def history(self, *, errors: Mapping[str, str] | None = None) -> Page:
        """Catalog versions, the candidate against production, the audit trail."""
        production = self.catalogs.production()
        candidate = self.catalogs.candidate()
        compared = None
        if production is not None and candidate is not None and candidate[0] != production[0]:
            compared = views.comparison(
                production, candidate, retraining=self._retraining(candidate[0])
            )
        with Session(self.engine) as session:
            events = views.event_rows(
                catalog_records.events(session, model_name=self.model_name, limit=200)
            )
        return Page(
            "history.html.j2",
            {
                "versions": views.version_rows(self.catalogs.versions()),
                "version": production[0] if production else None,
                "candidate": candidate[0] if candidate else None,
                "comparison": compared,
                "events": events,
                "errors": dict(errors or {}),
                "admin_enabled": self.admin.enabled,
            },
            status=422 if errors else 200,
        )

    def _retraining(self, candidate_version: int) -> str | None:
        for run in queries.monitoring_runs(self.engine, model_name=self.model_name, limit=50):
            if run.candidate_version == candidate_version:
                return views.run_rows([run], None)[0].retraining
        return None

    def assign_form(self, *, typical_of: int | None = None) -> Page:
        """The form of a customer's features, filled with a typical customer of a persona."""
        found = self.catalogs.production()
        if found is None:
            return Page("assign.html.j2", {"empty": no_catalog(self.catalogs.absent())})
        version, catalog = found
        ids = [p.persona_id for p in catalog.personas]
        chosen = typical_of if typical_of in ids else self._largest(catalog)
        values = views.typical_values(catalog, chosen)
        return self._assign_page(version, catalog, values, {}, None, typical_of=chosen)

    def assign(self, values: Mapping[str, str]) -> Page:
        """Assign the customer entered in the form; problems are shown by field."""
        found = self.catalogs.production()
        if found is None:
            return Page("assign.html.j2", {"empty": no_catalog(self.catalogs.absent())})
        version, catalog = found
        result, errors = views.assign_entered(catalog, values)
        return self._assign_page(version, catalog, values, errors, result)

    def _assign_page(
        self,
        version: int,
        catalog: PersonaCatalog,
        values: Mapping[str, str],
        errors: Mapping[str, str],
        result: views.AssignResult | None,
        *,
        typical_of: int | None = None,
    ) -> Page:
        return Page(
            "assign.html.j2",
            {
                "version": version,
                "fields": views.form_fields(catalog.spec, values, errors),
                "errors": dict(errors),
                "result": result,
                "personas": catalog.personas,
                "typical_of": typical_of,
            },
            status=422 if errors else 200,
        )

    @staticmethod
    def _largest(catalog: PersonaCatalog) -> int:
        return max(catalog.personas, key=lambda p: p.share).persona_id

    def report_file(self, name: str) -> Path:
        """A monitoring report by file name, only from the reports folder.

        Raises:
            NotFoundError: no such report in the folder (or a name that leaves it).
        """
        folder = self.reports_dir.resolve()
        path = (folder / name).resolve()
        if path.parent != folder or path.suffix != ".html" or not path.is_file():
            raise NotFoundError(f"no report {name!r} in {self.reports_dir}")
        return path

    # -- admin actions --------------------------------------------------------------------

    def _production_or_fail(self) -> Versioned:
        found = self.catalogs.production()
        if found is None:
            raise CatalogError(no_catalog(self.catalogs.absent()).text)
        return found

    def _context(self, catalog: PersonaCatalog | None) -> catalog_service.CatalogContext:
        return catalog_service.CatalogContext(
            engine=self.engine,
            registry=self.catalogs.registry,
            spec=catalog.spec if catalog else load_spec(self.settings.spec),
            cohort_timezone=self.settings.cohort_timezone,
        )

    def rename(self, persona_id: int, name: str, *, key: str | None, reason: str = "") -> str:
        """Rename a production persona (admin); return its previous name.

        Raises:
            AuthenticationError: not an admin key.
            CatalogError: an empty name or an unknown persona.
        """
        self.admin.require(key)
        version, catalog = self._production_or_fail()
        _, old = catalog_service.rename(
            self._context(catalog),
            persona_id,
            name,
            actor=ACTOR,
            version_or_alias=version,
            reason=reason.strip() or "renamed in the dashboard",
        )
        return old

    def promote_candidate(
        self, candidate_version: int, *, key: str | None, reason: str, force: bool = False
    ) -> catalog_service.Promotion:
        """Promote the candidate shown on the history page (admin).

        Raises:
            AuthenticationError: not an admin key.
            CatalogError: no reason, the candidate moved meanwhile, or its checks failed.
        """
        self.admin.require(key)
        candidate = self.catalogs.candidate()
        if candidate is None or candidate[0] != candidate_version:
            raise CatalogError(
                f"version {candidate_version} is no longer the candidate: reload the page"
            )
        production = self.catalogs.production()
        return catalog_service.promote(
            self._context(production[1] if production else candidate[1]),
            candidate_version,
            reason=reason,
            actor=ACTOR,
            force=force,
        )

    def refresh_counts(self, *, key: str | None) -> int:
        """Recount the production catalog's customers per cohort and persona (admin)."""
        self.admin.require(key)
        version, catalog = self._production_or_fail()
        return refresh_persona_counts(
            self.engine,
            spec=catalog.spec,
            model_name=self.model_name,
            version=version,
            timezone=self.settings.cohort_timezone,
        )
