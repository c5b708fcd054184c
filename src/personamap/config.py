"""The one source of configuration.

Settings come from ``PERSONAMAP_*`` environment variables and a ``.env`` file; ``DATABASE_URL`` and
``MLFLOW_TRACKING_URI`` are also honoured under their usual names. With nothing set, everything runs
embedded under ``./.personamap/``. Nothing here runs at import time: call :func:`get_settings`.
"""

from __future__ import annotations

import getpass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from personamap.errors import ConfigError

Environment = Literal["development", "test", "production"]


class Settings(BaseSettings):
    """Effective personamap configuration."""

    model_config = SettingsConfigDict(
        env_prefix="PERSONAMAP_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    env: Environment = Field("development", description="development, test or production.")
    home: Path = Field(Path(".personamap"), description="Folder for embedded state and outputs.")
    database_url_: str | None = Field(
        None,
        validation_alias=AliasChoices("PERSONAMAP_DATABASE_URL", "DATABASE_URL", "database_url"),
        description="SQLAlchemy URL of the database; default: SQLite under the home folder.",
    )
    mlflow_tracking_uri_: str | None = Field(
        None,
        validation_alias=AliasChoices(
            "PERSONAMAP_MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_URI", "mlflow_tracking_uri"
        ),
        description="MLflow tracking URI; default: SQLite store under the home folder.",
    )
    model_name: str = Field("personamap", description="Registered model name of the catalog.")
    spec: str = Field("anonymised", description="Default feature spec: a shipped name or a path.")
    cohort_timezone: str = Field("UTC", description="Time zone in which cohorts (months) are cut.")
    actor: str | None = Field(
        None, description="Who is acting, for the audit trail (default: the login name)."
    )
    api_keys: list[SecretStr] = Field(
        default_factory=list, description="Hashed API keys (sha256:HEX) accepted by the web API."
    )

    @field_validator("cohort_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name such as 'UTC'"
            ) from exc
        return value

    @field_validator("database_url_")
    @classmethod
    def _valid_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            make_url(value)
        except ArgumentError as exc:
            raise ValueError(f"not a database URL: {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _secure_outside_development(self) -> Settings:
        if self.env == "production" and self.database_url_ is None:
            raise ValueError(
                "PERSONAMAP_ENV=production needs DATABASE_URL; the embedded SQLite default "
                "is for development only"
            )
        return self

    @property
    def database_url(self) -> str:
        """The database URL in effect (embedded SQLite unless configured)."""
        return self.database_url_ or f"sqlite:///{self.home}/personamap.db"

    @property
    def mlflow_tracking_uri(self) -> str:
        """The MLflow tracking URI in effect (embedded SQLite store unless configured)."""
        return self.mlflow_tracking_uri_ or f"sqlite:///{self.home}/mlflow.db"

    @property
    def mlflow_artifact_location(self) -> str:
        """Where the embedded MLflow store keeps artifacts."""
        return (self.home / "mlartifacts").resolve().as_uri()

    @property
    def acting_user(self) -> str:
        """The actor recorded in the audit trail."""
        if self.actor:
            return self.actor
        try:
            return getpass.getuser()
        except (KeyError, OSError):  # no login name (e.g. a container without a passwd entry)
            return "unknown"

    @property
    def is_embedded(self) -> bool:
        """True when the database is the embedded SQLite default."""
        return self.database_url_ is None

    @property
    def auto_upgrade(self) -> bool:
        """SQLite files upgrade themselves; a server database is upgraded on purpose."""
        return make_url(self.database_url).get_backend_name() == "sqlite"

    def describe(self) -> dict[str, str]:
        """The effective settings as text, secrets masked, for display."""
        return {
            "env": self.env,
            "home": str(self.home),
            "database_url": mask_url(self.database_url),
            "mlflow_tracking_uri": mask_url(self.mlflow_tracking_uri),
            "mlflow_artifact_location": self.mlflow_artifact_location,
            "model_name": self.model_name,
            "spec": self.spec,
            "cohort_timezone": self.cohort_timezone,
            "actor": self.acting_user,
            "api_keys": f"{len(self.api_keys)} configured" if self.api_keys else "none",
        }


def mask_url(url: str) -> str:
    """Hide the password of a URL, if it has one."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url  # not a SQLAlchemy URL (e.g. an http:// MLflow server)


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment, turning validation failures into ConfigError."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from exc


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, built on first use."""
    return load_settings()
