"""The one source of configuration.

Settings come from ``PERSONAMAP_*`` environment variables and a ``.env`` file; ``DATABASE_URL`` and
``MLFLOW_TRACKING_URI`` are also honoured under their usual names. With nothing set, everything runs
embedded under ``./.personamap/``. Nothing here runs at import time: call :func:`get_settings`.
"""

from __future__ import annotations

import getpass
import re
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
_HASHED_KEY = re.compile(r"sha256:[0-9a-f]{64}")
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


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
    alert_webhook_url: SecretStr | None = Field(
        None, description="Webhook that drift alerts are posted to (none: alerts are logged only)."
    )
    alert_format: Literal["json", "slack", "telegram"] = Field(
        "json", description="Message format of the webhook: json, slack or telegram."
    )
    alert_telegram_chat_id: str | None = Field(None, description="Chat id for telegram alerts.")
    alert_attempts: int = Field(4, ge=1, le=10, description="Delivery attempts of an alert.")
    drift_alpha: float = Field(0.01, gt=0, le=1, description="Family-wise significance level.")
    drift_min_wasserstein: float = Field(
        0.1, ge=0, description="Smallest Wasserstein distance (reference SDs) that counts."
    )
    drift_min_psi: float = Field(0.1, ge=0, description="Smallest PSI that counts.")
    drift_min_poor_fit_increase: float = Field(
        0.03, ge=0, description="Smallest absolute rise of the poor-fit rate that counts."
    )
    drift_min_drifted_share: float = Field(
        0.2, gt=0, le=1, description="Share of drifted features that flags a cohort."
    )
    retrain_window: Literal["current", "reference+current"] = Field(
        "current", description="Cohorts a candidate is retrained on after drift."
    )
    auto_promote: bool = Field(
        False, description="Promote a retrained candidate that beats production by the margin."
    )
    auto_promote_margin: float = Field(
        0.05, ge=0, description="Poor-fit rate the challenger must beat the champion by."
    )
    pipeline_inbox_: Path | None = Field(
        None,
        validation_alias=AliasChoices("PERSONAMAP_PIPELINE_INBOX", "pipeline_inbox"),
        description="Folder of new cohort files (*-YYYY-MM.csv|parquet); default: HOME/inbox.",
    )
    pipeline_reference: str | None = Field(
        None,
        description="Reference cohort of the pipeline, YYYY-MM (default: the month production "
        "was trained on, else the first cohort).",
    )
    pipeline_start: str = Field(
        "2025-01", description="First month of the pipeline's monthly partitions, YYYY-MM."
    )
    api_keys: list[SecretStr] = Field(
        default_factory=list, description="Hashed API keys (sha256:HEX) accepted by the web API."
    )
    admin_api_keys: list[SecretStr] = Field(
        default_factory=list,
        description="Hashed admin keys (sha256:HEX): renaming and promoting in the dashboard.",
    )
    serve_host: str = Field("127.0.0.1", description="Address the web service listens on.")
    serve_port: int = Field(8000, ge=0, le=65535, description="Port of the web service.")
    serve_workers: int | None = Field(
        None, ge=1, description="Web service worker processes (default: one per CPU core)."
    )
    serve_reload_interval_seconds: float = Field(
        30.0, gt=0, description="How often the web service checks the production alias."
    )
    serve_max_batch: int = Field(
        10_000, ge=1, description="Most customers in one assignment request (more: HTTP 413)."
    )
    serve_max_body_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, description="Largest request body accepted (more: HTTP 413)."
    )
    serve_record_assignments: bool = Field(
        False, description="Record online assignments of customers given with an id."
    )
    serve_metrics_protected: bool = Field(
        False, description="Require an API key for /metrics too (when keys are configured)."
    )
    batch_chunk_size: int = Field(
        100_000, ge=1, description="Customers read, assigned and committed together in batch."
    )
    redis_url: str = Field(
        "redis://127.0.0.1:6379/0",
        validation_alias=AliasChoices("PERSONAMAP_REDIS_URL", "REDIS_URL", "redis_url"),
        description="Redis server of the customer and assignment streams.",
    )
    stream_input: str = Field("personamap:customers", description="Stream of customers to assign.")
    stream_output: str = Field(
        "personamap:assignments", description="Stream the assignments are published to."
    )
    stream_dead_letter: str = Field(
        "personamap:customers:dead", description="Stream of rejected messages, with reasons."
    )
    stream_group: str = Field("personamap", description="Consumer group of the stream consumers.")
    stream_batch_size: int = Field(500, ge=1, description="Most messages read and written at once.")
    stream_claim_idle_seconds: float = Field(
        30.0, gt=0, description="Idle time after which a dead consumer's messages are re-claimed."
    )
    stream_catalog_refresh_seconds: float = Field(
        10.0, gt=0, description="How often a consumer re-checks the production catalog."
    )
    stream_maxlen: int = Field(
        1_000_000, ge=1, description="Approximate length the output streams are trimmed to."
    )

    @field_validator("api_keys", "admin_api_keys")
    @classmethod
    def _hashed_keys(cls, keys: list[SecretStr]) -> list[SecretStr]:
        for position, key in enumerate(keys):
            if not _HASHED_KEY.fullmatch(key.get_secret_value()):
                raise ValueError(
                    f"key {position + 1} is not a hash of the form sha256:<64 hex digits>; "
                    "store keys hashed: `personamap api-key` makes one"
                )
        return keys

    @field_validator("pipeline_reference", "pipeline_start")
    @classmethod
    def _month(cls, value: str | None) -> str | None:
        if value is not None and not _MONTH.fullmatch(value):
            raise ValueError(f"{value!r} is not a month written as YYYY-MM (e.g. 2025-03)")
        return value

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
    def pipeline_inbox(self) -> Path:
        """The folder the pipeline ingests new cohort files from."""
        return self.pipeline_inbox_ or self.home / "inbox"

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
            "admin_api_keys": f"{len(self.admin_api_keys)} configured"
            if self.admin_api_keys
            else "none",
            "alert_webhook_url": "configured" if self.alert_webhook_url else "none (log only)",
            "alert_format": self.alert_format,
            "redis_url": mask_url(self.redis_url),
            "pipeline_inbox": str(self.pipeline_inbox),
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
