"""Test support: build a realistic persona lifecycle (data, catalog) through the real services."""

from __future__ import annotations

from dataclasses import dataclass

from personamap.config import get_settings
from personamap.domain.spec import FeatureSpec
from personamap.domain.synthetic import Cohort
from personamap.services.catalog import CatalogContext


@dataclass(frozen=True)
class Lifecycle:
    """A database with the demo cohorts and a registered, promoted catalog (for one test)."""

    context: CatalogContext
    spec: FeatureSpec
    cohorts: list[Cohort]
    version: int


def build_lifecycle(
    spec_name: str, *, customers: int = 500, promote_version: bool = True
) -> Lifecycle:
    """Ingest the demo cohorts of a spec, discover personas in January and promote them.

    Uses whatever the settings point at (the autouse fixture gives each test its own embedded
    SQLite database and MLflow store; ``use_database`` switches to PostgreSQL).
    """
    from personamap.adapters.database import upgrade
    from personamap.adapters.database.engine import create_database_engine
    from personamap.cli.wiring import catalog_context
    from personamap.domain.synthetic import DEMO_DRIFT, DEMO_MONTHS, generate_cohorts, load_personas
    from personamap.services.catalog import promote
    from personamap.services.discovery import discover
    from personamap.services.generate import ingest_cohorts

    get_settings.cache_clear()
    # As `personamap db upgrade` does; SQLite would upgrade itself, PostgreSQL is upgraded here.
    upgrade(create_database_engine(get_settings().database_url))
    context = catalog_context(spec_name)
    spec = context.spec
    cohorts = generate_cohorts(
        spec, load_personas(spec), DEMO_MONTHS, n_per_month=customers, drift=DEMO_DRIFT
    )
    ingest_cohorts(cohorts, spec, context.engine)
    found = discover(context, [DEMO_MONTHS[0]], actor="test")
    if promote_version:
        promote(context, found.version, reason="test lifecycle", actor="test")
    return Lifecycle(context=context, spec=spec, cohorts=cohorts, version=found.version)
