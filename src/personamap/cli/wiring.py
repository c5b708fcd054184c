"""Wiring for CLI commands: settings, the database, the spec; and shared option types."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from sqlalchemy import Engine

from personamap.adapters.database import connect
from personamap.config import Settings, get_settings
from personamap.domain.spec import FeatureSpec, load_spec
from personamap.services.catalog import CatalogContext

if TYPE_CHECKING:
    from personamap.adapters.registry import Registry

SpecOption = Annotated[
    str | None,
    typer.Option(
        "--spec",
        help="Feature spec: 'anonymised', 'survey' or a path to a spec file "
        "(default: PERSONAMAP_SPEC, else anonymised).",
    ),
]
OutputFormat = Annotated[str, typer.Option("--format", help="File format: csv or parquet.")]

console = Console()


def settings() -> Settings:
    """The effective settings."""
    return get_settings()


def database(config: Settings | None = None) -> Engine:
    """The database at its current migration; SQLite upgrades itself."""
    config = config or settings()
    return connect(config.database_url, auto_upgrade=config.auto_upgrade)


def registry(config: Settings | None = None) -> Registry:
    """The MLflow registry of the persona catalog."""
    from personamap.adapters.registry import Registry  # imports MLflow: only when needed

    config = config or settings()
    local = not config.mlflow_tracking_uri.startswith(("http://", "https://", "databricks"))
    return Registry(
        config.mlflow_tracking_uri,
        config.model_name,
        artifact_location=config.mlflow_artifact_location if local else None,
    )


def catalog_context(spec: str | None = None, config: Settings | None = None) -> CatalogContext:
    """Database, registry and spec for catalog commands."""
    config = config or settings()
    return CatalogContext(
        engine=database(config),
        registry=registry(config),
        spec=spec_for(spec, config),
        cohort_timezone=config.cohort_timezone,
    )


def spec_for(name_or_path: str | None, config: Settings | None = None) -> FeatureSpec:
    """The spec named on the command line, else the configured default."""
    config = config or settings()
    return load_spec(name_or_path or config.spec)


def resolve_paths(paths: list[Path]) -> list[Path]:
    """Files given directly, plus the CSV and Parquet files inside given folders (sorted)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(
                p
                for p in path.iterdir()
                if p.suffix in {".csv", ".parquet"} and not p.name.endswith(".rejects.csv")
            )
        else:
            files.append(path)
    return files
