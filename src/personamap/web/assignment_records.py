"""Data access of the web service: recorded assignments, read and (optionally) written.

Keyword-only functions; database failures become :class:`DatabaseError` (HTTP 503).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    Double,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    inspect,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from personamap.adapters.database.models import UTCDateTime
from personamap.config import mask_url
from personamap.errors import DatabaseError
from personamap.web.served import Assigned

SOURCE = "api"
# The table of migration 0003 (append-only, keyed by model, version and customer); declared here
# for writing only, the migration owns it.
_ASSIGNMENTS = Table(
    "assignments",
    MetaData(),
    Column("model_name", String(200), primary_key=True),
    Column("catalog_version", Integer, primary_key=True),
    Column("customer_id", Text, primary_key=True),
    Column("persona_id", Integer),
    Column("distance", Double),
    Column("confidence", Double),
    Column("fit", String(4)),
    Column("source", String(10)),
    Column("assigned_at", UTCDateTime()),
)
_LATEST = text(
    "SELECT a.customer_id, a.catalog_version, a.persona_id, p.name AS persona_name, "
    "a.distance, a.confidence, a.fit, a.assigned_at "
    "FROM assignments AS a LEFT JOIN catalog_personas AS p "
    "ON p.model_name = a.model_name AND p.catalog_version = a.catalog_version "
    "AND p.persona_id = a.persona_id "
    "WHERE a.model_name = :model_name AND a.customer_id = :customer_id "
    "ORDER BY a.assigned_at DESC, a.catalog_version DESC LIMIT 1"
).columns(catalog_version=Integer(), persona_id=Integer(), assigned_at=UTCDateTime())


@dataclass(frozen=True)
class LatestAssignment:
    """A customer's most recent recorded assignment."""

    customer_id: str
    catalog_version: int
    persona_id: int
    persona_name: str | None
    distance: float
    confidence: float
    fit: str
    assigned_at: datetime


@contextmanager
def _database_errors(engine: Engine, doing: str) -> Iterator[None]:
    try:
        yield
    except SQLAlchemyError as exc:
        raise DatabaseError(
            f"the database at {mask_url(str(engine.url))} failed {doing}: {exc.__class__.__name__}"
        ) from exc


def check_database(engine: Engine) -> None:
    """Raise :class:`DatabaseError` unless the database answers."""
    with _database_errors(engine, "a health check"), engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def latest_assignment(
    engine: Engine, *, model_name: str, customer_id: str
) -> LatestAssignment | None:
    """The customer's latest assignment by any catalog version, or None if none is recorded."""
    with _database_errors(engine, "reading an assignment"), engine.connect() as connection:
        if not inspect(connection).has_table("assignments"):
            return None
        row = connection.execute(
            _LATEST, {"model_name": model_name, "customer_id": customer_id}
        ).first()
    if row is None:
        return None
    return LatestAssignment(
        customer_id=str(row.customer_id),
        catalog_version=int(row.catalog_version),
        persona_id=int(row.persona_id),
        persona_name=row.persona_name,
        distance=float(row.distance),
        confidence=float(row.confidence),
        fit=str(row.fit),
        assigned_at=row.assigned_at,
    )


def record_assignments(engine: Engine, *, model_name: str, assigned: Assigned) -> None:
    """Record the assignments of customers given with an id.

    Records are keyed by model, catalog version and customer: assigning a customer again under
    the same version records nothing new (the first assignment stands).
    """
    now = datetime.now(UTC)
    rows = {
        item["customer_id"]: {
            **item,
            "model_name": model_name,
            "catalog_version": assigned.version,
            "source": SOURCE,
            "assigned_at": now,
        }
        for item in assigned.items()
        if item["customer_id"] is not None
    }
    if not rows:
        return
    with _database_errors(engine, "recording assignments"), engine.begin() as connection:
        insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
        statement = insert(_ASSIGNMENTS).on_conflict_do_nothing()
        connection.execute(statement, [_without_name(row) for row in rows.values()])


def _without_name(row: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in row.items() if key != "persona_name"}
