"""Persona counts per cohort: refreshed set-based from the assignments, read by the dashboard.

A refresh replaces one catalog version's rows in one transaction with one
``INSERT .. SELECT .. GROUP BY`` that joins the assignments with the customer table for each
customer's signup month, so readers see the old counts or the new ones, never a mix. The month
is cut in the cohort time zone: PostgreSQL converts the timestamps itself; SQLite has no time
zones, so the month boundaries (computed here, in UTC) are joined in as a small table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Engine,
    MetaData,
    Table,
    Text,
    and_,
    case,
    delete,
    func,
    insert,
    inspect,
    literal,
    select,
)

from personamap.adapters.database.customers import customer_table
from personamap.adapters.database.dashboard_models import PersonaCohortCount
from personamap.adapters.database.models import Assignment, UTCDateTime, utcnow
from personamap.domain.cohort import cohort_of, month_bounds, months_between
from personamap.domain.spec import FeatureSpec

COLUMNS = ("cohort", "persona_id", "customers", "poor_fit")
_SQLITE_STAMP = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores datetimes in SQLite
_MONTHS = "_personamap_months"


@dataclass(frozen=True)
class PersonaCounts:
    """The counts of one catalog version: one row per cohort and persona, oldest cohort first."""

    frame: pd.DataFrame
    """Columns :data:`COLUMNS`."""
    refreshed_at: datetime | None
    """When they were last refreshed (None: never)."""

    @property
    def empty(self) -> bool:
        """Whether nothing was counted (no refresh yet, or no assignments)."""
        return self.frame.empty


def refresh_persona_counts(
    engine: Engine, *, spec: FeatureSpec, model_name: str, version: int, timezone: str
) -> int:
    """Recount the customers per cohort and persona of one catalog version; return the rows.

    Args:
        engine: The database holding the assignments and the customer table.
        spec: The spec of the customer table (its name, id and timestamp columns).
        model_name: The registered model of the catalog.
        version: The catalog version whose assignments are counted.
        timezone: The time zone cohorts (months) are cut in.
    """
    counts: Table = PersonaCohortCount.__table__  # type: ignore[assignment]
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Refreshes take turns (readers are not blocked): two at once would both delete, then
            # both insert the same keys. SQLite's single writer gives the same order by itself.
            connection.exec_driver_sql(
                "LOCK TABLE persona_cohort_counts IN SHARE ROW EXCLUSIVE MODE"
            )
        this_version = (counts.c.model_name == model_name, counts.c.catalog_version == version)
        connection.execute(delete(counts).where(*this_version))
        if not inspect(connection).has_table(spec.table):
            return 0
        query = _count_query(connection, spec, model_name, version, timezone)
        if query is None:
            return 0
        connection.execute(insert(counts).from_select([*counts.c.keys()], query))
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql(f"DROP TABLE temp.{_MONTHS}")
        # Counted afterwards: not every driver reports the rows of an INSERT .. SELECT.
        return int(
            connection.execute(
                select(func.count()).select_from(counts).where(*this_version)
            ).scalar_one()
        )


def _count_query(
    connection: Connection, spec: FeatureSpec, model_name: str, version: int, timezone: str
) -> Any:
    customers = customer_table(spec)
    assignments: Table = Assignment.__table__  # type: ignore[assignment]
    stamp = customers.c[spec.timestamp_column]
    joined = assignments.join(customers, customers.c[spec.id_column] == assignments.c.customer_id)
    month: ColumnElement[Any]
    if connection.dialect.name == "postgresql":
        month = func.to_char(func.timezone(timezone, stamp), "YYYY-MM")
    else:
        months = _sqlite_months(connection, spec, stamp, timezone)
        if months is None:
            return None
        joined = joined.join(months, and_(stamp >= months.c.start_at, stamp < months.c.end_at))
        month = months.c.cohort
    cohort = month.label("cohort")
    poor = func.sum(case((assignments.c.fit == "poor", 1), else_=0))
    return (
        select(
            literal(model_name),
            literal(version),
            cohort,
            assignments.c.persona_id,
            func.count(),
            poor,
            literal(utcnow(), UTCDateTime()),
        )
        .select_from(joined)
        .where(assignments.c.model_name == model_name, assignments.c.catalog_version == version)
        .group_by(cohort, assignments.c.persona_id)
    )


def _sqlite_months(
    connection: Connection, spec: FeatureSpec, stamp: Column[Any], timezone: str
) -> Table | None:
    """A temporary table of the months the customers span, with their bounds as stored."""
    first, last = connection.execute(select(func.min(stamp), func.max(stamp))).one()
    if first is None:
        return None
    span = cohort_of(pd.Series(pd.to_datetime([first, last], utc=True)), timezone)
    months = Table(
        _MONTHS,
        MetaData(),
        Column("cohort", Text, primary_key=True),
        Column("start_at", Text),
        Column("end_at", Text),
        prefixes=["TEMPORARY"],
    )
    months.drop(connection, checkfirst=True)
    months.create(connection)
    rows = []
    for month in months_between(str(span.iloc[0]), str(span.iloc[1])):
        start, end = month_bounds(month, timezone)
        rows.append({"cohort": month, "start_at": _stored(start), "end_at": _stored(end)})
    connection.execute(insert(months), rows)
    return months


def _stored(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).strftime(_SQLITE_STAMP)


def read_persona_counts(engine: Engine, *, model_name: str, version: int) -> PersonaCounts:
    """The counts of a catalog version, as last refreshed."""
    counts: Table = PersonaCohortCount.__table__  # type: ignore[assignment]
    query = (
        select(*(counts.c[c] for c in COLUMNS), counts.c.refreshed_at)
        .where(counts.c.model_name == model_name, counts.c.catalog_version == version)
        .order_by(counts.c.cohort, counts.c.persona_id)
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    frame = pd.DataFrame([row[:4] for row in rows], columns=list(COLUMNS))
    frame = frame.astype({"persona_id": "int64", "customers": "int64", "poor_fit": "int64"})
    refreshed = max((row[4] for row in rows), default=None)
    return PersonaCounts(frame=frame, refreshed_at=refreshed)
