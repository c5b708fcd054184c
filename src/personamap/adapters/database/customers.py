"""The customer source table: created from the feature spec if missing, read, appended to.

The table belongs to the user. personamap appends new customers on ingest and never updates or
deletes a row; on PostgreSQL it loads through binary COPY (Arrow-encoded by pgpq) into a staging
table and one set-based insert of the ids not yet present.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
import psycopg
import pyarrow as pa
from pgpq import ArrowToPostgresBinaryEncoder
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
_COPY_BATCH_ROWS = 100_000


def customer_table(spec: FeatureSpec, metadata: MetaData | None = None) -> Table:
    """The SQLAlchemy table the spec describes."""
    columns: list[Column[Any]] = [
        # Byte-order collation: ids are codes, not words, and "C" keeps the index cheap to build.
        Column(
            spec.id_column, Text().with_variant(Text(collation="C"), "postgresql"), primary_key=True
        ),
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
    # PostgreSQL keeps microseconds; the stage holds UTC wall time, made aware on insert.
    stamps = frame[spec.timestamp_column].dt.tz_convert("UTC").dt.tz_localize(None)
    staged = frame.loc[:, list(spec.columns)].assign(
        **{spec.timestamp_column: stamps.astype("datetime64[us]")}
    )
    table = pa.Table.from_pandas(staged, preserve_index=False)
    encoder = ArrowToPostgresBinaryEncoder(table.schema)
    definitions = ", ".join(
        f'"{name}" {column.data_type.ddl()}'
        for name, column in zip(table.column_names, encoder.schema().columns, strict=True)
    )
    quoted = ", ".join(f'"{n}"' for n in spec.columns)
    selected = ", ".join(
        f"s.\"{n}\" AT TIME ZONE 'UTC'" if n == spec.timestamp_column else f's."{n}"'
        for n in spec.columns
    )
    with raw.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE {_STAGE} ({definitions}) ON COMMIT DROP")
        with cursor.copy(f"COPY {_STAGE} FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(encoder.write_header())
            for batch in table.to_batches(max_chunksize=_COPY_BATCH_ROWS):
                copy.write(encoder.write_batch(batch))
            copy.write(encoder.finish())
        # Ingests of one table take turns (readers are not blocked): the plain insert below
        # cannot race another ingest. It is tried first because most loads bring only new
        # customers; a repeated id rolls it back and the anti-join inserts just the new ones.
        cursor.execute(f'LOCK TABLE "{spec.table}" IN SHARE ROW EXCLUSIVE MODE')
        cursor.execute("SET LOCAL jit = off")  # compiling costs more than it saves here
        insert = f'INSERT INTO "{spec.table}" ({quoted}) SELECT {selected} FROM {_STAGE} AS s'
        try:
            with raw.transaction():  # a savepoint
                cursor.execute(insert)
        except psycopg.errors.UniqueViolation:
            cursor.execute(f"ANALYZE {_STAGE}")
            cursor.execute(
                f'{insert} WHERE NOT EXISTS (SELECT 1 FROM "{spec.table}" AS t '
                f'WHERE t."{spec.id_column}" = s."{spec.id_column}")'
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


def read_customers(
    engine: Engine, spec: FeatureSpec, start: datetime, end: datetime
) -> pd.DataFrame:
    """The customers who signed up in [start, end), typed as validation leaves them."""
    table = customer_table(spec)
    stamp = table.c[spec.timestamp_column]
    with engine.connect() as connection:
        if not inspect(connection).has_table(spec.table):
            return pd.DataFrame(columns=list(spec.columns))
        if connection.dialect.name == "sqlite":  # stored as naive UTC text
            start, end = _naive_utc(start), _naive_utc(end)
        query = select(table).where(stamp >= start, stamp < end).order_by(table.c[spec.id_column])
        frame = pd.DataFrame(connection.execute(query).all(), columns=list(spec.columns))
    frame[spec.timestamp_column] = pd.to_datetime(frame[spec.timestamp_column], utc=True)
    for feature in spec.numeric:
        frame[feature.name] = frame[feature.name].astype("float64")
    return frame


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)
