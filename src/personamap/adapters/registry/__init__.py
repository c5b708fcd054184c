"""The model registry adapter (MLflow): catalog versions, aliases, experiment runs."""

from personamap.adapters.registry.mlflow_registry import CatalogVersion, Registry

__all__ = ["CatalogVersion", "Registry"]
