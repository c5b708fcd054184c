"""Shared fixtures: real databases (SQLite file and a fresh PostgreSQL database), clean settings."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from personamap.adapters.database import connect
from personamap.config import get_settings
from support import Lifecycle, build_lifecycle

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

POSTGRES_ADMIN_URL = os.environ.get(
    "PERSONAMAP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
TEST_OUTPUT = Path(__file__).resolve().parent.parent / "test-output"


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Every test starts from the embedded defaults under its own home folder."""
    for name in list(os.environ):
        if name.startswith("PERSONAMAP_") and name != "PERSONAMAP_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("PERSONAMAP_HOME", str(tmp_path / ".personamap"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL database created for this test session and dropped afterwards."""
    name = f"personamap_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL, empty, on SQLite and on the real PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'personamap.db'}"
        return
    url: str = request.getfixturevalue("postgres_url")
    _reset_postgres(url)
    yield url
    _reset_postgres(url)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on an empty database at the newest migration."""
    engine = connect(database_url, auto_upgrade=True)
    yield engine
    engine.dispose()


@pytest.fixture
def use_database(monkeypatch: pytest.MonkeyPatch, database_url: str) -> str:
    """Point personamap's settings (and so the CLI) at the test database."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    return database_url


@pytest.fixture
def lifecycle() -> Lifecycle:
    """The anonymised demo data with a promoted catalog, embedded (SQLite + MLflow SQLite)."""
    return build_lifecycle("anonymised")
