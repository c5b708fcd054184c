"""MLflow as personamap's experiment tracker and catalog registry.

A catalog version is a registered model version; the aliases ``production`` (served) and
``candidate`` (awaiting approval) point at versions. MLflow's exceptions are turned into
:class:`RegistryError` here, at the only place that calls MLflow.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from personamap.adapters.registry.pyfunc import (
    CATALOG_ARTIFACT,
    CATALOG_FILE,
    input_example,
    signature_for,
)
from personamap.domain.catalog import ALIASES, CANDIDATE, PRODUCTION, PersonaCatalog
from personamap.errors import RegistryError

__all__ = ["ALIASES", "CANDIDATE", "PRODUCTION", "CatalogVersion", "Registry"]
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CatalogVersion:
    """A registered catalog version as the registry knows it."""

    version: int
    aliases: tuple[str, ...]
    created_at: datetime
    run_id: str | None
    tags: Mapping[str, str]


def _requirements() -> list[str]:
    # Explicit requirements: MLflow's inference costs seconds per logged model.
    names = ("numpy", "pandas", "scikit-learn", "scipy", "pydantic", "mlflow")
    return [f"{name}=={package_version(name)}" for name in names] + ["personamap"]


class Registry:
    """Catalog versions, aliases and tracked runs of one registered model.

    Args:
        tracking_uri: MLflow tracking URI (an SQLite store or an MLflow server).
        model_name: The registered model that holds the catalog versions.
        artifact_location: Artifact root for experiments created here (for a local store);
            ``None`` lets the tracking server decide.
    """

    def __init__(self, tracking_uri: str, model_name: str, artifact_location: str | None) -> None:
        if tracking_uri.startswith("sqlite:///"):
            Path(tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.tracking_uri = tracking_uri
        self.model_name = model_name
        self.artifact_location = artifact_location
        # Downloads of a small catalog need no progress bars on every load.
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        # The fluent API (runs, log_model) reads the process-wide URIs.
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_registry_uri(tracking_uri)
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    # -- runs -------------------------------------------------------------------------------

    def experiment_id(self, name: str) -> str:
        """The id of experiment ``name``, created if missing."""
        with _registry_errors(f"experiment {name!r}"):
            experiment = self.client.get_experiment_by_name(name)
            if experiment is not None:
                return str(experiment.experiment_id)
            return str(
                self.client.create_experiment(name, artifact_location=self.artifact_location)
            )

    @contextmanager
    def run(
        self,
        experiment: str,
        run_name: str,
        *,
        nested: bool = False,
        tags: Mapping[str, str] | None = None,
    ) -> Iterator[Run]:
        """A tracked MLflow run (nested in the active one when ``nested``)."""
        experiment_id = self.experiment_id(experiment)
        with (
            _registry_errors(f"run {run_name!r}"),
            mlflow.start_run(
                experiment_id=experiment_id, run_name=run_name, nested=nested, tags=dict(tags or {})
            ) as run,
        ):
            yield run

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log parameters to the active run."""
        with _registry_errors("logging parameters"):
            mlflow.log_params(run_params(params))

    def log_metrics(self, metrics: Mapping[str, float]) -> None:
        """Log metrics to the active run (non-finite values are skipped: MLflow refuses NaN)."""
        finite = {k: float(v) for k, v in metrics.items() if math.isfinite(float(v))}
        with _registry_errors("logging metrics"):
            mlflow.log_metrics(finite)

    def log_dict(self, data: Mapping[str, Any], name: str) -> None:
        """Log a JSON artifact to the active run."""
        with _registry_errors(f"logging {name}"):
            mlflow.log_dict(dict(data), name)

    def log_text(self, text: str, name: str) -> None:
        """Log a text artifact (e.g. a CSV table) to the active run."""
        with _registry_errors(f"logging {name}"):
            mlflow.log_text(text, name)

    def log_figure(self, figure: Any, name: str) -> None:
        """Log a matplotlib figure as an image artifact of the active run."""
        with _registry_errors(f"logging {name}"):
            mlflow.log_figure(figure, name)

    # -- catalog versions -------------------------------------------------------------------

    def log_and_register(
        self, catalog: PersonaCatalog, *, tags: Mapping[str, str] | None = None
    ) -> int:
        """Log ``catalog`` as a pyfunc model in the active run and register a new version."""
        with tempfile.TemporaryDirectory() as folder, _registry_errors("registering the catalog"):
            path = Path(folder) / CATALOG_FILE
            path.write_text(json.dumps(catalog.to_dict(), indent=1), encoding="utf-8")
            info = mlflow.pyfunc.log_model(
                name="catalog",
                python_model=str(Path(__file__).with_name("model_code.py")),
                artifacts={CATALOG_ARTIFACT: str(path)},
                signature=signature_for(catalog),
                input_example=input_example(catalog),
                pip_requirements=_requirements(),
            )
            registered = mlflow.register_model(
                info.model_uri, self.model_name, tags=dict(tags or {})
            )
        return int(registered.version)

    def set_alias(self, alias: str, version: int) -> None:
        """Point ``alias`` at ``version``."""
        with _registry_errors(f"setting alias {alias!r} to version {version}"):
            self.client.set_registered_model_alias(self.model_name, alias, str(version))

    def delete_alias(self, alias: str) -> None:
        """Remove ``alias`` (no error when it does not exist)."""
        if self.version_for(alias) is None:
            return
        with _registry_errors(f"deleting alias {alias!r}"):
            self.client.delete_registered_model_alias(self.model_name, alias)

    def version_for(self, alias: str) -> int | None:
        """The version ``alias`` points at, or None."""
        try:
            return int(self.client.get_model_version_by_alias(self.model_name, alias).version)
        except MlflowException as exc:
            if exc.error_code in {
                "RESOURCE_DOES_NOT_EXIST",
                "INVALID_PARAMETER_VALUE",
                "NOT_FOUND",
            }:
                return None
            raise RegistryError(
                f"cannot read alias {alias!r} of {self.model_name!r}: {exc}"
            ) from exc

    def set_tag(self, version: int, key: str, value: str) -> None:
        """Tag a version (e.g. a persona's current name), for the MLflow UI."""
        with _registry_errors(f"tagging version {version}"):
            self.client.set_model_version_tag(self.model_name, str(version), key, value)

    def versions(self) -> list[CatalogVersion]:
        """All versions, newest first."""
        with _registry_errors(f"listing versions of {self.model_name!r}"):
            found = self.client.search_model_versions(f"name = '{self.model_name}'")
            aliases: dict[int, list[str]] = {}
            if found:  # version search results do not carry aliases on every store
                model = self.client.get_registered_model(self.model_name)
                for alias, version in (model.aliases or {}).items():
                    aliases.setdefault(int(version), []).append(alias)
        return sorted(
            (
                CatalogVersion(
                    version=int(v.version),
                    aliases=tuple(sorted(aliases.get(int(v.version), []))),
                    created_at=datetime.fromtimestamp(v.creation_timestamp / 1000, tz=UTC),
                    run_id=v.run_id,
                    tags=dict(v.tags or {}),
                )
                for v in found
            ),
            key=lambda v: v.version,
            reverse=True,
        )

    def resolve(self, version_or_alias: int | str | None) -> int:
        """A version number from a number, an alias, or None (production)."""
        if isinstance(version_or_alias, int):
            return version_or_alias
        text = PRODUCTION if version_or_alias is None else version_or_alias
        if text.isdigit():
            return int(text)
        version = self.version_for(text)
        if version is None:
            raise RegistryError(
                f"no catalog version has alias {text!r} in {self.model_name!r}: "
                "train or import a catalog, then promote it"
            )
        return version

    def load(self, version_or_alias: int | str | None = None) -> tuple[int, PersonaCatalog]:
        """Download and read a catalog version (default: production)."""
        version = self.resolve(version_or_alias)
        with (
            tempfile.TemporaryDirectory() as folder,
            _registry_errors(f"loading catalog version {version}"),
        ):
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{self.model_name}/{version}", dst_path=folder
            )
            text = (Path(local) / "artifacts" / CATALOG_FILE).read_text(encoding="utf-8")
        return version, PersonaCatalog.from_dict(json.loads(text))

    def model_uri(self, alias: str = PRODUCTION) -> str:
        """The URI a plain MLflow client loads the catalog with."""
        return f"models:/{self.model_name}@{alias}"


@contextmanager
def _registry_errors(doing: str) -> Iterator[None]:
    try:
        yield
    except MlflowException as exc:
        raise RegistryError(f"MLflow failed {doing}: {exc.message}") from exc
    except OSError as exc:  # an unreachable tracking server or artifact store
        raise RegistryError(f"MLflow failed {doing}: {exc}") from exc


def run_params(params: Mapping[str, Any]) -> dict[str, str]:
    """Parameters as MLflow stores them (text, at most 6,000 characters)."""
    return {key: str(value)[:6000] for key, value in params.items()}
