"""Support for the assignment tests: one promoted catalog per test session, customers per test.

Creating an MLflow store and discovering personas takes seconds; the assignment tests only read
the catalog, so they share one store built once per session, and each test gets its own database
(SQLite or PostgreSQL, whatever the settings point at) with the demo cohorts, the catalog's
personas and its promotion recorded.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from personamap.adapters.database import catalog_records
from personamap.config import get_settings, load_settings
from personamap.domain.synthetic import DEMO_DRIFT, DEMO_MONTHS, Cohort, generate_cohorts
from personamap.domain.synthetic import load_personas as load_definition
from personamap.services.catalog import CatalogContext

SPEC_NAME = "anonymised"


@dataclass(frozen=True)
class CatalogStore:
    """An MLflow store holding one promoted catalog version."""

    tracking_uri: str
    version: int


@dataclass(frozen=True)
class World:
    """A test database with the demo cohorts and the shared catalog in production."""

    context: CatalogContext
    cohorts: list[Cohort]
    version: int
    tracking_uri: str

    @property
    def customers(self) -> int:
        return sum(len(c.frame) for c in self.cohorts)


@functools.cache
def catalog_store() -> CatalogStore:
    """Discover 3 personas in a January cohort once per session and promote them."""
    from personamap.cli.wiring import catalog_context
    from personamap.services.catalog import promote
    from personamap.services.discovery import discover
    from personamap.services.generate import ingest_cohorts

    folder = Path(tempfile.mkdtemp(prefix="personamap-catalog-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    config = load_settings(
        home=folder,
        database_url=f"sqlite:///{folder}/personamap.db",
        mlflow_tracking_uri=f"sqlite:///{folder}/mlflow.db",
    )
    context = catalog_context(SPEC_NAME, config)
    spec = context.spec
    january = generate_cohorts(spec, load_definition(spec), DEMO_MONTHS[:1], n_per_month=1000)
    ingest_cohorts(january, spec, context.engine)
    found = discover(context, DEMO_MONTHS[:1], ks=[3], actor="test")
    promote(context, found.version, reason="shared test catalog", actor="test")
    context.engine.dispose()
    return CatalogStore(tracking_uri=config.mlflow_tracking_uri, version=found.version)


def build_world(monkeypatch: pytest.MonkeyPatch, *, customers: int = 500) -> World:
    """Demo cohorts in the configured database, with the shared catalog promoted there."""
    from personamap.cli.wiring import catalog_context
    from personamap.services.catalog import promote
    from personamap.services.generate import ingest_cohorts

    store = catalog_store()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.tracking_uri)
    get_settings.cache_clear()
    context = catalog_context(SPEC_NAME)
    spec = context.spec
    cohorts = generate_cohorts(
        spec, load_definition(spec), DEMO_MONTHS, n_per_month=customers, drift=DEMO_DRIFT
    )
    ingest_cohorts(cohorts, spec, context.engine)
    version, catalog = context.registry.load(store.version)
    with Session(context.engine) as session, session.begin():
        catalog_records.save_personas(
            session, model_name=context.model_name, version=version, catalog=catalog
        )
    promote(context, version, reason="test world", actor="test")
    return World(context=context, cohorts=cohorts, version=version, tracking_uri=store.tracking_uri)


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for a ``python -m personamap`` subprocess of the current test."""
    settings = get_settings()
    return {
        **os.environ,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "COLUMNS": "120",
        "PERSONAMAP_HOME": str(settings.home),
        "DATABASE_URL": settings.database_url,
        "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri,
        **extra,
    }


def personamap_command(*args: str) -> list[str]:
    """The command line running personamap with this interpreter."""
    return [sys.executable, "-m", "personamap", *args]


def run_personamap(
    *args: str, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run personamap to completion, capturing its output."""
    return subprocess.run(
        personamap_command(*args),
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
