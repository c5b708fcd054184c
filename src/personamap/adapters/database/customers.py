"""The customer source table: created from the feature spec if missing, read, appended to.

The table belongs to the user. personamap appends new customers on ingest and never updates or
deletes a row; on PostgreSQL it loads through binary COPY into a staging table and one set-based
``INSERT .. ON CONFLICT DO NOTHING``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import psycopg
from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Double,
    Engine,
    MetaData,
    Table,
    Text,
    func,
    inspect,
    select,
)
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from personamap.domain.cohort import cohort_of
from personamap.domain.spec import FeatureSpec, NumericFeature
from personamap.errors import DatabaseError, SchemaError

_STAGE = "_personamap_customer_stage"
_EPOCH = np.datetime64("1970-01-01T00:00:00", "us")


def customer_table(spec: FeatureSpec, metadata: MetaData | None = None) -> Table:
    """The SQLAlchemy table the spec describes."""
    columns: list[Column[Any]] = [
        Column(spec.id_column, Text, primary_key=True),
        Column(spec.timestamp_column, DateTime(timezone=True), nullable=False, index=True),
    ]
    for feature in spec.features:
        kind = Double if isinstance(feature, NumericFeature) else Text
        columns.append(Column(feature.name, kind, nullable=False, comment=feature.description))
    return Table(spec.table, metadata or MetaData(), *columns)


def ensure_customer_table(connection: Connection, spec: FeatureSpec) -> Table:
    """Create the customer table if missing; refuse an existing one that lacks spec columns."""
    table = customer_table(spec)
    inspector = inspect(connection)
    if not inspector.has_table(spec.table):
        table.create(connection)
        return table
    present = {c["name"] for c in inspector.get_columns(spec.table)}
    missing = [c for c in spec.columns if c not in present]
    if missing:
        raise SchemaError(
            f"table {spec.table!r} exists but lacks column(s) {missing} of feature spec "
            f"{spec.name!r}; point the spec at another table or add the columns"
        )
    return table


def insert_new_customers(connection: Connection, spec: FeatureSpec, frame: pd.DataFrame) -> int:
    """Append the customers of a validated frame whose id is new; return how many were added."""
    if frame.empty:
        return 0
    if connection.dialect.name == "postgresql":
        try:
            return _copy_insert(connection, spec, frame)
        except psycopg.Error as exc:  # raw COPY bypasses SQLAlchemy's error wrapping
            raise DatabaseError(f"loading into {spec.table!r} failed: {exc}") from exc
    return _executemany_insert(connection, spec, frame)


def _executemany_insert(connection: Connection, spec: FeatureSpec, frame: pd.DataFrame) -> int:
    table = customer_table(spec)
    stamps = frame[spec.timestamp_column].dt.tz_convert("UTC").dt.tz_localize(None)
    rows: list[dict[str, Any]] = frame.assign(  # type: ignore[assignment]
        **{spec.timestamp_column: stamps.astype(object)}
    ).to_dict("records")
    statement = sqlite_insert(table).on_conflict_do_nothing(index_elements=[spec.id_column])
    before = connection.execute(select(func.count()).select_from(table)).scalar_one()
    connection.execute(statement, rows)
    after = connection.execute(select(func.count()).select_from(table)).scalar_one()
    return int(after - before)


def _copy_insert(connection: Connection, spec: FeatureSpec, frame: pd.DataFrame) -> int:
    raw = connection.connection.driver_connection
    if raw is None:  # pragma: no cover - only on a closed connection
        raise RuntimeError("the database connection is closed")
    names = list(spec.columns)
    stage_types = [
        "text",
        "bigint",
        *("float8" if isinstance(f, NumericFeature) else "text" for f in spec.features),
    ]
    # Timestamps travel as integer microseconds: cheaper than Python datetimes, and exact.
    micros = (
        frame[spec.timestamp_column]
        .dt.tz_convert("UTC")
        .dt.tz_localize(None)
        .to_numpy("datetime64[us]")
        - _EPOCH
    ).astype(np.int64)
    columns = [frame[spec.id_column].tolist(), micros.tolist()]
    columns += [frame[f.name].tolist() for f in spec.features]
    quoted = ", ".join(f'"{n}"' for n in names)
    definitions = ", ".join(f'"{n}" {t}' for n, t in zip(names, stage_types, strict=True))
    with raw.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE {_STAGE} ({definitions}) ON COMMIT DROP")
        with cursor.copy(f"COPY {_STAGE} ({quoted}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(stage_types)
            for row in zip(*columns, strict=True):
                copy.write_row(row)
        selected = ", ".join(
            f"timestamptz 'epoch' + \"{n}\" * interval '1 microsecond'"
            if n == spec.timestamp_column
            else f'"{n}"'
            for n in names
        )
        cursor.execute(
            f'INSERT INTO "{spec.table}" ({quoted}) SELECT {selected} FROM {_STAGE} '
            f'ON CONFLICT ("{spec.id_column}") DO NOTHING'
        )
        inserted = cursor.rowcount
        cursor.execute(f"DROP TABLE {_STAGE}")
    return int(inserted)


def count_by_cohort(engine: Engine, spec: FeatureSpec, timezone: str = "UTC") -> pd.DataFrame:
    """Customers per cohort (month in ``timezone``), oldest first."""
    table = customer_table(spec)
    stamp = table.c[spec.timestamp_column]
    with engine.connect() as connection:
        if not inspect(connection).has_table(spec.table):
            return pd.DataFrame({"cohort": [], "customers": []})
        if connection.dialect.name == "postgresql":
            month = func.to_char(func.timezone(timezone, stamp), "YYYY-MM").label("cohort")
            rows = connection.execute(
                select(month, func.count().label("customers")).group_by(month).order_by(month)
            ).all()
            return pd.DataFrame(rows, columns=["cohort", "customers"])
        stamps = pd.Series(connection.execute(select(stamp)).scalars().all(), dtype=object)
    cohorts = cohort_of(pd.to_datetime(stamps).dt.tz_localize("UTC"), timezone)
    counts = cohorts.value_counts().sort_index()
    return pd.DataFrame({"cohort": counts.index.astype(str), "customers": counts.to_numpy()})
