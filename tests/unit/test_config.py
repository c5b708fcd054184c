"""Settings: embedded defaults, environment overrides, masked secrets, refusal of bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from personamap.config import load_settings
from personamap.errors import ConfigError

pytestmark = pytest.mark.unit


def test_defaults_are_embedded_under_the_home_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERSONAMAP_HOME", ".personamap")
    settings = load_settings()
    assert settings.database_url == "sqlite:///.personamap/personamap.db"
    assert settings.mlflow_tracking_uri == "sqlite:///.personamap/mlflow.db"
    assert settings.mlflow_artifact_location.endswith("/.personamap/mlartifacts")
    assert settings.auto_upgrade  # the embedded SQLite upgrades itself


def test_database_url_and_mlflow_uri_are_read_under_their_usual_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://pm:s3cret@db:5432/pm")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    settings = load_settings()
    assert settings.database_url == "postgresql://pm:s3cret@db:5432/pm"
    assert settings.mlflow_tracking_uri == "http://mlflow:5000"
    assert not settings.auto_upgrade  # a server database is upgraded on purpose


def test_described_settings_mask_the_database_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERSONAMAP_DATABASE_URL", "postgresql://pm:s3cret@db:5432/pm")
    described = load_settings().describe()
    assert "s3cret" not in str(described)
    assert described["database_url"] == "postgresql://pm:***@db:5432/pm"


def test_a_dotenv_file_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(str(tmp_path))
    monkeypatch.delenv("PERSONAMAP_HOME")
    (tmp_path / ".env").write_text("PERSONAMAP_SPEC=survey\n")
    assert load_settings().spec == "survey"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PERSONAMAP_COHORT_TIMEZONE", "Mars/Olympus", "cohort_timezone.*Mars/Olympus"),
        ("PERSONAMAP_ENV", "staging", "env"),
        ("DATABASE_URL", "not a url", "not a database URL"),
    ],
)
def test_bad_settings_are_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=message):
        load_settings()


def test_production_refuses_the_embedded_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERSONAMAP_ENV", "production")
    with pytest.raises(ConfigError, match="needs DATABASE_URL"):
        load_settings()
